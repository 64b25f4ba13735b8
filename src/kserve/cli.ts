/**
 * `cdk8s-model-serving kserve import <file|dir|->`: KServe YAML to TypeScript (stdout or `--out`), or
 * straight to manifests (`--synth`), with the mapping report (`--json`). Bad input exits 2 and writes
 * nothing; `--strict` exits 1 when any field was not mapped exactly.
 */
import * as fs from 'fs';
import * as path from 'path';
import { App, Chart } from 'cdk8s';
import { buildNamespace, buildRuntimes } from './import/build';
import { InputDocument, KServeInputError, parseDocuments } from './import/documents';
import { importKServe } from './import/import-documents';
import { ImportPlan } from './import/plan';
import { formatEntry, isNotMapped } from './import/report';
import { chartIdOf, generateTypeScript } from './import/typescript';

export const KSERVE_HELP = `Usage: cdk8s-model-serving kserve import <file|dir|-> [flags]

Reads KServe resources (InferenceService, ServingRuntime, ClusterServingRuntime, InferenceGraph,
TrainedModel; TrainedModels and other objects pass through) and writes a cdk8s app that builds them with
cdk8s-model-serving's constructs: one chart per namespace.

  <file|dir|->     a YAML file (many documents allowed), a folder of *.yaml/*.yml files, or - for stdin
  --out <dir>      write <dir>/main.ts instead of printing the code
  --synth <dir>    synthesize the manifests into <dir> instead of writing code
  --json           print the mapping report as JSON (fields not mapped, with document, path and reason)
  --strict         exit 1, writing nothing, when any field was not mapped exactly
  -h, --help       this help

Exit codes: 0 done, 1 --strict refused (or the constructs refused a value), 2 bad input or flags.
`;

interface Flags {
  readonly input: string;
  readonly out?: string;
  readonly synth?: string;
  readonly json: boolean;
  readonly strict: boolean;
}

class UsageError extends Error {}

function parseFlags(args: readonly string[]): Flags {
  const [sub, ...rest] = args;
  if (sub !== 'import') throw new UsageError(sub === undefined ? 'missing subcommand: import' : `unknown subcommand '${sub}': the one subcommand is import`);
  let input: string | undefined;
  let out: string | undefined;
  let synth: string | undefined;
  let json = false;
  let strict = false;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    const value = () => {
      const v = rest[++i];
      if (v === undefined || v.startsWith('--')) throw new UsageError(`${a} needs a directory`);
      return v;
    };
    if (a === '--out') out = value();
    else if (a === '--synth') synth = value();
    else if (a === '--json') json = true;
    else if (a === '--strict') strict = true;
    else if (a.startsWith('--')) throw new UsageError(`unknown flag '${a}'`);
    else if (input === undefined) input = a;
    else throw new UsageError(`one input only, got '${input}' and '${a}'`);
  }
  if (input === undefined) throw new UsageError('missing input: a file, a folder or - for stdin');
  if (out !== undefined && synth !== undefined) throw new UsageError('--out writes code and --synth writes manifests: pass one');
  return { input, out, synth, json, strict };
}

/** The input files: one file, the YAML files of a folder (sorted, recursive), or stdin. */
function readInput(input: string, stdin: () => string): InputDocument[] {
  if (input === '-') return parseDocuments('-', stdin());
  if (!fs.existsSync(input)) throw new KServeInputError(input, undefined, 'no such file or folder');
  if (fs.statSync(input).isDirectory()) {
    const files = (fs.readdirSync(input, { recursive: true }) as string[])
      .filter(f => /\.ya?ml$/.test(f)).sort().map(f => path.join(input, f));
    if (files.length === 0) throw new KServeInputError(input, undefined, 'not KServe: no *.yaml or *.yml file in the folder');
    return files.flatMap(f => parseDocuments(f, fs.readFileSync(f, 'utf8')));
  }
  return parseDocuments(input, fs.readFileSync(input, 'utf8'));
}

/** Synthesizes a plan into `outdir`: the charts the generated code makes, with the same ids. */
export function synthesizePlan(plan: ImportPlan, outdir: string): void {
  const app = new App({ outdir });
  const runtimes = buildRuntimes(plan.runtimes, app);
  for (const ns of plan.namespaces) {
    const chart = new Chart(app, chartIdOf(ns), { namespace: ns.namespace });
    buildNamespace(ns, chart, runtimes);
  }
  app.synth();
}

export interface KServeCommandIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly stdin: () => string;
}

const PROCESS_IO: KServeCommandIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  stdin: () => fs.readFileSync(0, 'utf8'),
};

/** Runs `kserve <args>`; returns the exit code. */
export function runKServeCommand(args: readonly string[], io: KServeCommandIo = PROCESS_IO): number {
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout(KSERVE_HELP);
    return 0;
  }
  const prefix = 'cdk8s-model-serving kserve import';
  let flags: Flags;
  let plan: ImportPlan;
  let sources: string[];
  try {
    flags = parseFlags(args);
    const docs = readInput(flags.input, io.stdin);
    sources = [...new Set(docs.map(d => path.basename(d.file)))];
    plan = importKServe(docs);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`${prefix}: ${e.message}\n\n${KSERVE_HELP}`);
      return 2;
    }
    if (e instanceof KServeInputError) {
      io.stderr(`${prefix}: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const refused = plan.report.filter(isNotMapped);
  if (flags.json) io.stdout(`${JSON.stringify({ mapped: refused.length === 0, report: plan.report }, undefined, 2)}\n`);
  if (flags.strict && refused.length > 0) {
    io.stderr(`${prefix}: --strict: ${refused.length} field(s) not mapped exactly, nothing written:\n${refused.map(e => `  ${formatEntry(e)}`).join('\n')}\n`);
    return 1;
  }
  if (refused.length > 0 && !flags.json) {
    io.stderr(`${prefix}: ${refused.length} field(s) not mapped exactly (--json lists them with the reason):\n${refused.map(e => `  ${formatEntry(e)}`).join('\n')}\n`);
  }
  if (flags.synth !== undefined) {
    try {
      synthesizePlan(plan, flags.synth);
    } catch (e) {
      io.stderr(`${prefix}: the constructs refused a value: ${(e as Error).message}\n`);
      return 1;
    }
    return 0;
  }
  const code = generateTypeScript(plan, sources);
  if (flags.out !== undefined) {
    fs.mkdirSync(flags.out, { recursive: true });
    fs.writeFileSync(path.join(flags.out, 'main.ts'), code);
  } else if (!flags.json) {
    io.stdout(code);
  }
  return 0;
}
