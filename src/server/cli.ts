// The `cdk8s-model-server` binary: dispatches to a subcommand. Each command takes its own argv
// (after the command name) and resolves with an exit code. Loaded by the launcher
// (`./launcher.ts`), which calls `run`.
//
// Commands are imported when they run, not before: `--help` and `--version` load no server code
// (they work without onnxruntime-node), `storage-initializer` loads no inference code, and
// `serve` loads gRPC while its models load (see ./main.ts).
import { SERVER_COMMANDS } from '../contract';
import { serveHelp, topLevelHelp, wantsHelp } from './cli-help';

/** Set by the bundler (scripts/bundle-server.js); absent when run from source. */
declare const MODEL_SERVER_VERSION: string | undefined;
declare const MODEL_SERVER_ORT_VERSION: string | undefined;

/** `cdk8s-model-server <version> (onnxruntime-node <v>, node <v>)`. */
export function versionLine(): string {
  const version = typeof MODEL_SERVER_VERSION === 'string' ? MODEL_SERVER_VERSION : 'dev';
  const ort = typeof MODEL_SERVER_ORT_VERSION === 'string' ? MODEL_SERVER_ORT_VERSION : 'unknown';
  return `cdk8s-model-server ${version} (onnxruntime-node ${ort}, node ${process.version})\n`;
}

/** onnxruntime-node is not bundled: say how to get it instead of failing with MODULE_NOT_FOUND. */
function onnxRuntimeMissing(): boolean {
  try {
    require.resolve('onnxruntime-node');
    return false;
  } catch {
    const ort = typeof MODEL_SERVER_ORT_VERSION === 'string' ? `@${MODEL_SERVER_ORT_VERSION}` : '';
    process.stderr.write(`cdk8s-model-server: onnxruntime-node is not installed; run npm install onnxruntime-node${ort} (the container image ships it)\n`);
    return true;
  }
}

// Lazy requires: esbuild keeps each module (and what only it imports) unevaluated until then.
/* eslint-disable @typescript-eslint/no-require-imports */
const storage = (): typeof import('./storage') => require('./storage');
const main = (): typeof import('./main') => require('./main');
const grpc = (): typeof import('./grpc') => require('./grpc');
const components = (): typeof import('./transformer/serve') => require('./transformer/serve');
const router = (): typeof import('./router/serve') => require('./router/serve');
/* eslint-enable @typescript-eslint/no-require-imports */

export const commands: Record<string, (args: string[]) => Promise<number>> = {
  [SERVER_COMMANDS.storageInitializer]: (args) => storage().storageInitializerMain(args),
  // Transformer/explainer: `--mode transformer|explainer`, or in process in a predictor.
  [SERVER_COMMANDS.serve]: async (args) => {
    if (wantsHelp(args)) {
      process.stdout.write(serveHelp());
      return 0;
    }
    if (onnxRuntimeMissing()) return 2;
    return main().serveMain(args, {
      startGrpc: (core, config, app) => grpc().startGrpc(core, config, app),
      serveComponent: (config) => components().serveComponent(config),
      serveRouter: (config) => router().serveRouter(config),
      installInProcess: (app, config) => components().installInProcess(app, config),
    });
  },
};

/**
 * Runs the command named by `argv[0]`. No command prints the usage and exits 2: the server never
 * starts (on all interfaces) unless asked to with `serve`.
 */
export async function run(argv: string[]): Promise<void> {
  const [name, ...args] = argv;
  if (name === '--version') {
    process.stdout.write(versionLine());
    return;
  }
  if (name === '--help' || name === '-h') {
    process.stdout.write(topLevelHelp());
    return;
  }
  const command = name === undefined ? undefined : commands[name];
  if (!command) {
    if (name !== undefined) process.stderr.write(`cdk8s-model-server: unknown command '${name}'\n`);
    process.stderr.write(topLevelHelp());
    process.exitCode = 2;
    return;
  }
  const code = await command(args);
  // Long-running commands (serve) resolve only when they stop; one-shot commands exit here.
  process.exit(code);
}

/** `run` with the process's arguments; an unexpected error exits 1 with its stack. */
export function runFromProcess(): void {
  run(process.argv.slice(2)).catch((err) => {
    process.stderr.write(`cdk8s-model-server: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  });
}
