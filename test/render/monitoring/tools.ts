/**
 * Finds Prometheus' binaries (Debian's `prometheus` package, installed by `.ci/run`). In CI a
 * missing binary fails the test; on a dev machine the tests that need it are skipped, loudly.
 */
import { spawnSync } from 'child_process';
import { Chart, Testing } from 'cdk8s';
import { CanaryRollout, CanaryRolloutProps, DeploymentMode, ModelEndpoint, ModelEndpointProps, StorageUri, TransformerModule } from '../../../src';

/** The absolute path of `name` on PATH, or undefined. */
export function findTool(name: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const found = r.stdout.trim();
  return r.status === 0 && found ? found : undefined;
}

/**
 * `describe` when every tool is present; in CI (`CI` set) a missing tool throws, elsewhere the
 * suite is skipped with a warning.
 */
export function describeWithTools(tools: string[], title: string, fn: () => void): void {
  const missing = tools.filter(t => !findTool(t));
  if (missing.length === 0) {
    describe(title, fn);
    return;
  }
  const message = `${missing.join(', ')} not found: install Debian's 'prometheus' package (see .ci/run)`;
  if (process.env.CI) {
    test(`${title}: needs ${missing.join(', ')}`, () => {
      throw new Error(message);
    });
    return;
  }
  // eslint-disable-next-line no-console
  console.warn(`\n!!! SKIPPING '${title}': ${message} !!!\n`);
  describe.skip(title, fn);
}

/**
 * Synthesizes one endpoint named `iris` in namespace `ml`; returns the manifests and endpoint.
 *
 * @param configure runs after the endpoint's constructor, before synthesis (`addTransformer()`, ...)
 */
export function synthEndpoint(
  props: Partial<ModelEndpointProps> = {}, mode = DeploymentMode.SERVERLESS, configure?: (endpoint: ModelEndpoint) => void,
) {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'ml' });
  const endpoint = new ModelEndpoint(chart, 'Endpoint', {
    name: 'iris',
    modelName: 'iris',
    storageUri: StorageUri.s3('models', 'iris/model.onnx'),
    mode,
    ...props,
  });
  configure?.(endpoint);
  return { manifests: Testing.synth(chart) as any[], endpoint };
}

/** A transformer module for tests (our server runs it; its content does not matter at synth). */
export const TEST_TRANSFORMER = { module: TransformerModule.fromCode('exports.preprocess = async (r) => r;\n', 'iris.js') };

/** Adds a transformer (our server) and an explainer (our server) to `endpoint`. */
export function withComponents(endpoint: ModelEndpoint): void {
  endpoint.addTransformer(TEST_TRANSFORMER);
  endpoint.addExplainer();
}

/**
 * Synthesizes one CanaryRollout named `iris` in namespace `ml`: stable v1 and, unless
 * `canary: undefined` is passed, canary v2 at 10%.
 */
export function synthRollout(props: Partial<CanaryRolloutProps> = {}, mode = DeploymentMode.SERVERLESS) {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'ml' });
  const rollout = new CanaryRollout(chart, 'Rollout', {
    name: 'iris',
    modelName: 'iris',
    mode,
    stable: { version: 'v1', storageUri: StorageUri.s3('models', 'iris/v1/model.onnx') },
    canary: { version: 'v2', storageUri: StorageUri.s3('models', 'iris/v2/model.onnx') },
    ...('canary' in props || props.trafficPercent !== undefined ? {} : { trafficPercent: 10 }),
    ...props,
  });
  return { manifests: Testing.synth(chart) as any[], rollout };
}

/** Stops a child process: SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
export async function stopProcess(child: import('child_process').ChildProcess | undefined, exited: Promise<unknown> | undefined, graceMs = 5000): Promise<void> {
  if (!child || child.exitCode !== null) return;
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([exited, new Promise(r => { timer = setTimeout(r, graceMs); })]);
  clearTimeout(timer);
  if (child.exitCode === null) child.kill('SIGKILL');
}
