// Builds the transformer SDK (src/server/sdk.ts) into lib/sdk/ for module authors:
// `import { defineTransformer } from 'cdk8s-model-serving/lib/sdk'`. The SDK sits beside the
// server (outside jsii), so jsii does not emit it; this runs after jsii in post-compile.
const path = require('path');
const fs = require('fs');
const esbuild = require('esbuild');
const ts = require('typescript');

const root = path.join(__dirname, '..');
const entry = path.join(root, 'src', 'server', 'sdk.ts');
const outdir = path.join(root, 'lib', 'sdk');

function buildSdk() {
  fs.rmSync(outdir, { recursive: true, force: true });
  // JavaScript: one self-contained CommonJS file (the SDK imports only types).
  esbuild.buildSync({ entryPoints: [entry], outfile: path.join(outdir, 'index.js'), bundle: true, platform: 'node', target: 'node20', format: 'cjs', logLevel: 'warning' });
  // Declarations: sdk.d.ts and the V2 types it re-exports, under lib/sdk/.
  const program = ts.createProgram([entry], {
    declaration: true, emitDeclarationOnly: true, strict: true, skipLibCheck: true,
    target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS, rootDir: path.join(root, 'src', 'server'), outDir: outdir,
  });
  const result = program.emit();
  const errors = ts.getPreEmitDiagnostics(program).concat(result.diagnostics).filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (errors.length > 0) {
    throw new Error(ts.formatDiagnostics(errors, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' }));
  }
  fs.writeFileSync(path.join(outdir, 'index.d.ts'), "export * from './sdk';\n");
  return outdir;
}

module.exports = { buildSdk };

if (require.main === module) {
  console.log(`built ${path.relative(root, buildSdk())}`);
}
