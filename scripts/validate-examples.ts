/**
 * Validates the synthesized YAML of every example offline: strict schema (Kubernetes 1.33, the version cdk8s-plus-33 targets, + vendored
 * CRDs), names and labels, Pod Security restricted and project defaults, Knative default feature flags.
 *
 * Usage: npx ts-node -T --project tsconfig.server.json scripts/validate-examples.ts [--root DIR] [--knative-flag FLAG]... [FILE.yaml...]
 * Without files it reads DIR/<example>/dist/*.yaml (DIR defaults to ./examples). Exits 1 on any error.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as YAML from 'yaml';
import { collectManifestErrors, ValidationOptions } from '../test/validation';

export interface FileReport {
  readonly file: string;
  readonly objects: number;
  readonly errors: string[];
}

/** The `dist/*.yaml` files of every example under `root`, sorted. */
export function findExampleYaml(root: string): string[] {
  if (!fs.existsSync(root)) return [];
  const files: string[] = [];
  for (const example of fs.readdirSync(root).sort()) {
    const dist = path.join(root, example, 'dist');
    if (!fs.existsSync(dist) || !fs.statSync(dist).isDirectory()) continue;
    for (const f of fs.readdirSync(dist).sort()) if (/\.ya?ml$/.test(f)) files.push(path.join(dist, f));
  }
  return files;
}

/** Parses each multi-document YAML file and runs every validator on each object. */
export function validateYamlFiles(files: readonly string[], options: ValidationOptions = {}): FileReport[] {
  return files.map((file) => {
    const docs = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'));
    const parseErrors = docs.flatMap((d, i) => d.errors.map((e) => `document ${i + 1}: YAML error: ${e.message}`));
    if (parseErrors.length > 0) return { file, objects: 0, errors: parseErrors };
    const objs = docs.map((d) => d.toJS()).filter((o) => o !== null && o !== undefined);
    return { file, objects: objs.length, errors: collectManifestErrors(objs, options) };
  });
}

function main(argv: string[]): number {
  let root = 'examples';
  const flags: string[] = [];
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--root') root = argv[++i];
    else if (argv[i] === '--knative-flag') flags.push(argv[++i]);
    else files.push(argv[i]);
  }
  const targets = files.length > 0 ? files : findExampleYaml(root);
  if (targets.length === 0) {
    console.log(`no examples to validate: no ${path.join(root, '*', 'dist', '*.yaml')} files`);
    return 0;
  }
  let failed = 0;
  for (const r of validateYamlFiles(targets, { knativeFlags: flags })) {
    if (r.errors.length === 0) {
      console.log(`ok    ${r.file} (${r.objects} objects)`);
      continue;
    }
    failed += r.errors.length;
    console.log(`FAIL  ${r.file} (${r.objects} objects)`);
    for (const e of r.errors) console.log(`  ${r.file}: ${e}`);
  }
  console.log(failed === 0 ? `all ${targets.length} file(s) valid` : `${failed} error(s)`);
  return failed === 0 ? 0 : 1;
}

if (require.main === module) process.exit(main(process.argv.slice(2)));
