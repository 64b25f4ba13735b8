/**
 * `serve --mode router`: serves the inference graph of `--graph-spec`.
 *
 * Startup: the spec is read and validated first; a spec that is missing, not JSON or not valid
 * is a startup error (one `startup_failed` log line, every problem on stderr, exit code 1). When
 * steps name a `model`, the models in `--model-dir` are loaded in this process (no network hop
 * for those steps); a step naming a model that is not there is a startup error too. Stop: as
 * every mode (`../lifecycle`).
 */
import { randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createCore } from '../app';
import { ServerConfig } from '../config';
import { InferenceCore } from '../inference/core';
import { listenOn, logLine, stopOnSignal } from '../lifecycle';
import { ServerMetrics } from '../metrics';
import { GraphSpecError, hasModelSteps, loadGraphSpec } from './config';
import { GraphExecutor } from './executor';
import { buildRouterApp, RouterState } from './router-app';
import { InProcessTarget, NetworkTarget, StepTargets } from './step-targets';
import { GRAPH_ROUTER } from '../../contract';
import { GraphSpec } from '../../contract/graph-spec';
import { InferHotPath } from '../http/infer-hot-path';
import { PayloadLogger } from '../payload-log/payload-logger';

function startupFailed(message: string): number {
  logLine(50, { event: 'startup_failed' }, message);
  process.stderr.write(`cdk8s-model-server serve: ${message}\n`);
  return 1;
}

/** Models that `model` steps name but the core does not hold. */
function missingModels(spec: GraphSpec, core: InferenceCore): string[] {
  const missing: string[] = [];
  for (const [node, n] of Object.entries(spec.nodes)) {
    for (const step of n.steps) {
      if (step.model !== undefined && !core.repository.get(step.model)) missing.push(`node '${node}' step '${step.name}' names model '${step.model}'`);
    }
  }
  return missing;
}

/** Resolves with the exit code once the router stopped. */
export async function serveRouter(config: ServerConfig): Promise<number> {
  const router = config.router!;
  let spec: GraphSpec;
  try {
    spec = loadGraphSpec(router.specPath);
  } catch (err) {
    if (err instanceof GraphSpecError) return startupFailed(err.message);
    throw err;
  }
  const metrics = new ServerMetrics();
  const graphName = config.modelName;
  // Model steps log nothing themselves: the router logs the graph's request and answer.
  const core = hasModelSteps(spec) ? createCore({ ...config, payloadLog: undefined }, metrics, (event, fields) => logLine(event === 'model_load_failed' ? 50 : 30, { event, ...fields }, event)) : undefined;
  const network = new NetworkTarget(config.maxBodyBytes);
  const inProcess = core
    ? new InProcessTarget(new InferHotPath({ core, metrics, logError: (fields, message) => logLine(50, fields, message) }))
    : undefined;
  const executor = new GraphExecutor({
    spec,
    target: new StepTargets(network, inProcess),
    // crypto's uniform integer, as KServe's router draws with crypto/rand.
    random: () => randomInt(0, 1_000_000) / 1_000_000,
    defaultTimeoutMs: config.requestTimeoutMs,
    observe: (node, step, status, seconds) => {
      const label = node === 'root' ? `${graphName}/${step.name}` : `${graphName}/${node}/${step.name}`;
      metrics.recordRequest(label, GRAPH_ROUTER.metricProtocol, status, seconds);
    },
  });
  const payloadLog = config.payloadLog ? new PayloadLogger(config.payloadLog, metrics.registry) : undefined;
  const state: RouterState = { started: false, draining: false };
  const app = buildRouterApp({ config, metrics, state, executor, graphName, propagateHeaders: router.propagateHeaders, core, payloadLog });
  const log = app.log;
  const stopped = stopOnSignal(config, {
    log,
    drain: () => {
      state.draining = true;
      core?.beginDrain();
    },
    close: async () => {
      await app.close();
      network.close();
      await core?.repository.close();
    },
  });
  const httpPort = await listenOn(app, config.host, config.httpPort);
  const nodes = Object.keys(spec.nodes);
  log.info({ event: 'listening', httpPort, host: config.host, component: 'router', graphSpec: router.specPath, nodes, inProcessModels: core !== undefined }, 'listening');
  if (core) {
    const t0 = performance.now();
    await core.start();
    const missing = missingModels(spec, core);
    if (missing.length > 0) {
      const models = core.repository.list().map((e) => e.name);
      await app.close();
      network.close();
      await core.repository.close();
      return startupFailed(`the graph needs models that ${config.modelDir} does not hold: ${missing.join('; ')} (models there: ${models.join(', ') || 'none'})`);
    }
    log.info({ event: 'models_loaded', models: core.repository.list().map((e) => ({ name: e.name, state: e.state })), ms: Math.round(performance.now() - t0) }, 'in-process models loaded');
  }
  state.started = true;
  log.info({ event: 'ready', component: 'router', ready: core ? core.isReady() : true }, 'graph router ready');
  return stopped;
}
