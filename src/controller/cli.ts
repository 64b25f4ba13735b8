/**
 * The `cdk8s-model-serving` binary (`assets/tool/cli.js`, bundled by scripts/bundle-tool.js):
 * dispatches to a subcommand (TOOL_COMMANDS). `controller` runs the controller (./main.ts); `kserve`
 * imports KServe YAML (src/kserve/cli.ts).
 */
import { TOOL_COMMANDS } from '../contract';
import { ConfigError, controllerHelp, parseControllerConfig } from './config';

const USAGE = `Usage: cdk8s-model-serving <command> [flags]

Commands:
  ${TOOL_COMMANDS.controller}   reconcile ModelEndpoint, CanaryRollout and ModelMesh custom resources (--help for its flags)
  ${TOOL_COMMANDS.kserve}       import <file|dir|->: KServe YAML to constructs (TypeScript, or manifests with --synth)
`;

const wantsHelp = (args: readonly string[]) => args.includes('--help') || args.includes('-h');

/** Runs the command in argv[0]; resolves with the exit code (a running controller resolves on shutdown). */
export async function runTool(argv: readonly string[]): Promise<number> {
  const [command, ...args] = argv;
  if (command === undefined || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command === TOOL_COMMANDS.kserve) {
    // Loaded only for this command: the controller's Kubernetes client is not needed here.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { runKServeCommand } = require('../kserve/cli') as typeof import('../kserve/cli');
    return runKServeCommand(args);
  }
  if (command !== TOOL_COMMANDS.controller) {
    process.stderr.write(`cdk8s-model-serving: unknown command '${command}'\n\n${USAGE}`);
    return 2;
  }
  if (wantsHelp(args)) {
    process.stdout.write(controllerHelp());
    return 0;
  }
  let config;
  try {
    config = parseControllerConfig(args);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`cdk8s-model-serving controller: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  // Loaded only for a run: --help and flag errors need no Kubernetes client.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { runController } = require('./main') as typeof import('./main');
  return runController(config);
}

if (require.main === module) {
  runTool(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e) => {
    process.stderr.write(`cdk8s-model-serving: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
