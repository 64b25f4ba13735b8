// Entry point of the `cdk8s-model-server` binary: dispatches to a subcommand.
// Each command takes its own argv (after the command name) and resolves with an exit code.
// Add commands to `commands`; `serve` is the default when none is given.
import { SERVER_COMMANDS } from '../contract';
import { startGrpc } from './grpc';
import { serveMain } from './main';
import { storageInitializerMain } from './storage';
import { installInProcess, serveComponent } from './transformer/serve';

export const commands: Record<string, (args: string[]) => Promise<number>> = {
  [SERVER_COMMANDS.storageInitializer]: storageInitializerMain,
  // gRPC: pass `{ startGrpc }` (from ./grpc) as the second argument of serveMain.
  // Transformer/explainer: `--mode transformer|explainer`, or in process in a predictor.
  [SERVER_COMMANDS.serve]: (args) => serveMain(args, { startGrpc, serveComponent, installInProcess }),
};

function usage(): void {
  process.stderr.write(`usage: cdk8s-model-server <${Object.keys(commands).join('|')}> [flags]\n`);
}

async function main(argv: string[]): Promise<void> {
  const [name = SERVER_COMMANDS.serve, ...args] = argv;
  const command = commands[name];
  if (!command) {
    usage();
    process.exitCode = 2;
    return;
  }
  const code = await command(args);
  // Long-running commands (serve) resolve only when they stop; one-shot commands exit here.
  process.exit(code);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err) => {
    process.stderr.write(`cdk8s-model-server: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  });
}
