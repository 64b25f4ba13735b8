/**
 * Settings that the chosen `--mode` ignores. The server starts anyway (they are harmless), but says
 * so at start, so that `--mode multi --model-name iris` does not leave a user wondering why
 * `/v2/models/iris` is 404 (multi mode names models after their folders).
 */
import { SERVER_ENV, SERVER_FLAGS, SERVER_MODES } from '../contract';
import { parseFlags } from './config';

type Key = keyof typeof SERVER_FLAGS & keyof typeof SERVER_ENV;

/** Settings of a ModelMesh member; nothing reads them outside `--mode mesh`. */
const MESH_ONLY: Key[] = ['peers', 'peerDns', 'self', 'modelRegistry', 'loadTimeoutMs'];

export interface IneffectiveFlag {
  readonly flag: string;
  readonly env: string;
  readonly mode: string;
  readonly message: string;
}

/** The settings given (as a flag or in the environment) that have no effect in the mode they run in. */
export function ineffectiveFlags(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): IneffectiveFlag[] {
  const flags = parseFlags(argv);
  const given = (key: Key) => flags.has(SERVER_FLAGS[key]) || (env[SERVER_ENV[key]] ?? '') !== '';
  const mode = flags.get(SERVER_FLAGS.mode) ?? (env[SERVER_ENV.mode] || SERVER_MODES.auto);
  const found: IneffectiveFlag[] = [];
  const add = (key: Key, why: string) => found.push({
    flag: SERVER_FLAGS[key],
    env: SERVER_ENV[key],
    mode,
    message: `${SERVER_FLAGS[key]} (${SERVER_ENV[key]}) has no effect in --mode ${mode}: ${why}`,
  });
  if ((mode === SERVER_MODES.multi || mode === SERVER_MODES.mesh) && given('modelName')) {
    add('modelName', 'each model is named after its folder (or <name>.onnx file) in the model directory');
  }
  if (mode !== SERVER_MODES.mesh) {
    for (const key of MESH_ONLY.filter(given)) add(key, 'it configures a ModelMesh member (--mode mesh)');
  }
  if (mode !== SERVER_MODES.router && given('graphSpec')) {
    add('graphSpec', 'only an inference graph router (--mode router) reads a graph');
  }
  return found;
}
