/**
 * @jest-environment ./test/jest-host-typed-arrays-environment.js
 */
// The server compiles its route schemas with ajv's meta-schema check off (`validateSchema: false`
// in AJV_OPTIONS, to save start-up time), and lazily: so the check happens here, on every schema
// of every route the real app registers, and the lazy compilers are shown to compile them all.
import Ajv from 'ajv';
import Fastify, { FastifyInstance, RouteOptions } from 'fastify';
import { MODELS } from './server-harness';
import { buildApp, createCore } from '../../src/server/app';
import { parseConfig } from '../../src/server/config';
import { registerRoutes } from '../../src/server/http/routes';
import { serverOptions } from '../../src/server/http/server-options';
import { ServerMetrics } from '../../src/server/metrics';

const config = parseConfig(['--model-dir', `${MODELS}/iris-logreg.onnx`, '--model-name', 'iris']);
/** The server's routes as registered by `registerRoutes` (the app's own), seen by an onRoute hook. */
const routes: RouteOptions[] = [];
let app: FastifyInstance;
beforeAll(async () => {
  const collector = Fastify(serverOptions(config, false));
  collector.addHook('onRoute', (route) => {
    routes.push(route);
  });
  const metrics = new ServerMetrics({ collectDefault: false });
  registerRoutes(collector, createCore(config, metrics, () => undefined), metrics);
  await collector.close();
  app = buildApp({ config, logger: false });
  await app.ready();
});
afterAll(() => app.close());

/** Every JSON schema of a route: body, params, querystring, headers and each response. */
function schemasOf(route: RouteOptions): Array<[string, unknown]> {
  const s = route.schema ?? {};
  const out: Array<[string, unknown]> = [];
  for (const part of ['body', 'params', 'querystring', 'headers'] as const) if (s[part] !== undefined) out.push([part, s[part]]);
  for (const [code, schema] of Object.entries((s.response ?? {}) as Record<string, unknown>)) out.push([`response ${code}`, schema]);
  return out;
}

test('the app registers routes with schemas (the check below is not empty)', () => {
  const withSchemas = routes.filter((r) => schemasOf(r).length > 0);
  expect(withSchemas.length).toBeGreaterThanOrEqual(10);
  expect(withSchemas.some((r) => String(r.url).endsWith('/infer') && r.schema?.body !== undefined)).toBe(true);
});

test('every route schema is valid against the JSON Schema meta-schema (strict)', () => {
  const ajv = new Ajv({ strict: true, allowUnionTypes: true, validateSchema: true });
  for (const route of routes) {
    for (const [part, schema] of schemasOf(route)) {
      const valid = ajv.validateSchema(schema as object);
      expect({ route: `${route.method} ${route.url}`, part, errors: valid ? null : ajv.errors }).toEqual({ route: `${route.method} ${route.url}`, part, errors: null });
      expect(() => ajv.compile(schema as object)).not.toThrow();
    }
  }
});

test('a body that breaks the schema is still rejected by the lazily compiled validator (400)', async () => {
  const res = await app.inject({ method: 'POST', url: '/v2/repository/index', payload: { ready: 'not a boolean' } });
  expect(res.statusCode).toBe(400);
  expect(JSON.parse(res.body).error).toMatch(/ready/);
  await app.warmSchemas(); // compiles the rest
});
