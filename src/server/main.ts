/**
 * `cdk8s-model-server serve`: starts the HTTP server (and gRPC, when registered), loads the
 * models, and shuts down gracefully.
 *
 * Startup: listen on `--host` (0.0.0.0 by default) first (liveness answers at once), log
 * `{"event":"listening","httpPort":N}`, load the models, log `{"event":"ready"}`. With
 * `--storage-uri`, a predictor listens before the download too (liveness 200, readiness 503
 * meanwhile); a failed download exits 1 with the logged error. With `--model-dir-wait-seconds`,
 * likewise while a missing model directory is awaited; after the wait the model is FAILED.
 * SIGTERM: readiness turns false at once; after `shutdownDelayMs` the listeners close (new
 * connections are refused, requests already accepted finish, and every request that reached
 * the server before its listener closed is answered with `Connection: close`, see
 * `http/graceful-close.ts`); once they are done, or after `shutdownGraceMs` at the latest, the
 * sessions are released and the command resolves.
 */
import * as http from 'node:http';
import { FastifyInstance } from 'fastify';
import { PATHS } from '../contract';
import { buildApp } from './app';
import { ConfigError, parseConfig, ServerConfig } from './config';
import { SIGTERM_IDLE_LINGER_MS } from './http/graceful-close';
import { InferenceCore } from './inference/core';
import { listenOn, logLine, stopOnSignal } from './lifecycle';
import type { MeshNode } from './mesh';
import { modelDirExists, modelDirTimeoutReason, waitForModelDir } from './models/model-dir-wait';
import { cpuMs, markStartup, startupMarks } from './startup-marks';

/** Something started next to the HTTP server (the gRPC service) that must stop with it. */
export interface SideServer {
  /** Bound port, logged at startup. */
  readonly port?: number;
  close(): Promise<void>;
}

/** Optional parts `serve` starts next to HTTP; `cli.ts` passes them in. */
export interface ServeExtensions {
  /** Starts the gRPC service on `config.grpcPort` over the shared core. */
  startGrpc?(core: InferenceCore, config: ServerConfig, app: FastifyInstance): Promise<SideServer>;
  /** Serves a transformer or explainer component (`--mode transformer|explainer`) instead of a predictor. */
  serveComponent?(config: ServerConfig): Promise<number>;
  /** Serves an inference graph (`--mode router`) instead of a predictor. */
  serveRouter?(config: ServerConfig): Promise<number>;
  /** Installs the in-process transformer module / explainer into the predictor's app; false on a (logged) startup error. */
  installInProcess?(app: FastifyInstance, config: ServerConfig): Promise<boolean>;
}

/** Runs `serve` with its flags; resolves with the process exit code once the server stopped. */
export async function serveMain(args: string[], extensions: ServeExtensions = {}): Promise<number> {
  markStartup('serve');
  let config: ServerConfig;
  try {
    config = parseConfig(args);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`cdk8s-model-server serve: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  let interim: { server: http.Server; port: number } | undefined;
  if (config.storageUri) {
    // `--storage-uri`: fetch the model before the repository scans the model directory (so the
    // single/multi-model detection sees it). A predictor listens meanwhile on the HTTP port
    // (live, not ready: `startingServer`); the app takes the port over once the model is there.
    if (!config.component || config.component.kind === 'predictor') {
      interim = await startingServer(config.host, config.httpPort, 'the model is being fetched (--storage-uri); not ready yet');
      logLine(30, { event: 'listening', httpPort: interim.port, storageUri: config.storageUri, fetching: true }, 'listening (fetching the model)');
    }
    try {
      // Loaded only here: the storage clients (and tar) cost start-up time for nothing otherwise.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { fetchModel } = require('./storage') as typeof import('./storage');
      const fetched = await fetchModel(config.storageUri, config.modelDir, { settings: config.storage, log: (msg) => logLine(30, { event: 'storage' }, msg) });
      logLine(30, { event: 'model_fetched', storageUri: config.storageUri, modelDir: fetched.dir, files: fetched.files.length, bytes: fetched.bytes, bytesWritten: fetched.bytesWritten, note: fetched.note }, 'model fetched');
      config = { ...config, modelDir: fetched.dir };
    } catch (err) {
      logLine(50, { event: 'model_fetch_failed', storageUri: config.storageUri, code: (err as { code?: string }).code }, (err as Error).message);
      await closeServer(interim?.server);
      return 1;
    }
  }
  // rt-finish: a model directory another container makes (a serverless modelcar sidecar) is
  // awaited, live and not ready, before the repository scans it.
  const isPredictor = !config.component || config.component.kind === 'predictor';
  if (isPredictor && !config.mesh && config.modelDirWaitSeconds > 0 && !modelDirExists(config.modelDir)) {
    if (!interim) {
      interim = await startingServer(config.host, config.httpPort, WAITING_FOR_MODEL_DIR);
      logLine(30, { event: 'listening', httpPort: interim.port, modelDir: config.modelDir, waitingForModelDir: true }, 'listening (waiting for the model directory)');
    }
    logLine(30, { event: 'model_dir_waiting', modelDir: config.modelDir, waitSeconds: config.modelDirWaitSeconds }, `waiting up to ${config.modelDirWaitSeconds} s for ${config.modelDir} to appear`);
    if (await waitForModelDir(config.modelDir, config.modelDirWaitSeconds * 1000)) {
      logLine(30, { event: 'model_dir_appeared', modelDir: config.modelDir }, 'model directory appeared');
    } else {
      logLine(40, { event: 'model_dir_wait_expired', modelDir: config.modelDir, waitSeconds: config.modelDirWaitSeconds },
        modelDirTimeoutReason(config.modelDir, config.modelDirWaitSeconds));
    }
  }
  if (config.router) {
    if (!extensions.serveRouter) {
      process.stderr.write('cdk8s-model-server serve: --mode router is not available in this build\n');
      return 2;
    }
    return extensions.serveRouter(config);
  }
  if (config.component && config.component.kind !== 'predictor') {
    if (!extensions.serveComponent) {
      process.stderr.write(`cdk8s-model-server serve: --mode ${config.component.kind} is not available in this build\n`);
      return 2;
    }
    return extensions.serveComponent(config);
  }
  // Mesh mode: the mesh member brings its own core (lazy loads, placement, forwarding).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mesh: MeshNode | undefined = config.mesh ? new (require('./mesh') as typeof import('./mesh')).MeshNode(config) : undefined;
  const app = buildApp({ config, core: mesh?.core, metrics: mesh?.metrics });
  markStartup('appBuilt');
  mesh?.install(app);
  if (config.component && extensions.installInProcess && !(await extensions.installInProcess(app, config))) {
    return 1;
  }
  const log = app.log;
  let side: SideServer | undefined;

  const stopped = stopOnSignal(config, {
    log,
    drain: () => app.core.beginDrain(),
    close: async (signal) => {
      // SIGTERM: idle keep-alive clients get a moment for one more request (answered, then closed).
      if (signal === 'SIGTERM') app.gracefulClose.lingerMs = SIGTERM_IDLE_LINGER_MS;
      await Promise.all([app.close(), side?.close(), mesh?.close()]);
      await app.core.repository.close();
    },
  });

  // After a download, the app binds the port the interim server had (same number, also for 0).
  await closeServer(interim?.server);
  const httpPort = await listenOn(app, config.host, interim?.port ?? config.httpPort);
  markStartup('httpListening');
  mesh?.start(httpPort);
  if (!interim) {
    log.info({ event: 'listening', httpPort, host: config.host, modelDir: config.modelDir, storageUri: config.storageUri, protocol: config.protocol }, 'listening');
  }
  // ---- start-up order (cold start, issue 11 section 7) ----
  // gRPC loads and binds while the models load; ready waits for both, so a ready server serves
  // gRPC too.
  const grpcStarted = extensions.startGrpc?.(app.core, config, app).then((server) => {
    side = server;
    markStartup('grpcListening');
    log.info({ event: 'grpc_listening', grpcPort: server.port ?? config.grpcPort }, 'gRPC listening');
  });
  await app.core.start(grpcStarted);
  // ---- end of start-up order ----
  const models = app.core.repository.list().map((e) => ({ name: e.name, state: e.state, reason: e.reason || undefined }));
  markStartup('ready');
  log.info({ event: 'ready', ready: app.core.isReady(), models }, 'models loaded');
  log.info({ event: 'startup', marks: startupMarks(), cpuMs: cpuMs() }, 'start-up phases (ms since process start)');
  // Route schemas compile on first use (start-up skips them); compile the rest now.
  void app.warmSchemas();
  return stopped;
}

/** The 503 error while `--model-dir-wait-seconds` waits. */
const WAITING_FOR_MODEL_DIR = 'the model directory is not there yet (--model-dir-wait-seconds); not ready yet';

/**
 * The HTTP port while `--storage-uri` downloads (or `--model-dir-wait-seconds` waits): liveness (`/` as KServe V1 has it,
 * `/v2/health/live`) answers 200, everything else 503 (not ready yet), in the V2 error shape.
 */
async function startingServer(host: string, port: number, notReadyError: string): Promise<{ server: http.Server; port: number }> {
  const live = new Set([PATHS.live, '/v2/health/live/']);
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    req.resume();
    if (req.method === 'GET' && (url === '/' || live.has(url))) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(url === '/' ? '{"status":"alive"}' : '{"live":true}');
      return;
    }
    res.writeHead(503, { 'content-type': 'application/json', 'connection': 'close' })
      .end(JSON.stringify(url === PATHS.ready ? { ready: false } : { error: notReadyError }));
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : port };
}

function closeServer(server: http.Server | undefined): Promise<void> {
  if (!server) return Promise.resolve();
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
