/**
 * The transformer SDK as module authors get it from the package (`lib/sdk`): its declarations
 * type-check a module written against them, and its JavaScript works on its own.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ts from 'typescript';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { buildSdk } = require('../../scripts/build-sdk');

let sdkDir: string;
beforeAll(() => {
  sdkDir = buildSdk();
});

function typeCheck(source: string): string[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdk-user-'));
  const file = path.join(dir, 'module.ts');
  fs.writeFileSync(file, source.replace('SDK', sdkDir.split(path.sep).join('/')));
  const program = ts.createProgram([file], {
    strict: true, noEmit: true, skipLibCheck: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS, types: [],
  });
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

test('a module written against the packaged declarations type-checks', () => {
  expect(typeCheck(`
    import { defineTransformer, isV1Request, tensorFromRows, TransformerError } from 'SDK';
    export default defineTransformer({
      async preprocess(request, context) {
        if (!isV1Request(request)) return request;
        const meta = await context.modelMetadata();
        const rows = request.instances.map((i) => { if (!Array.isArray(i)) throw new TransformerError('rows only'); return i as number[]; });
        return { inputs: [tensorFromRows(meta.inputs[0].name, 'FP32', rows)] };
      },
    });
  `)).toEqual([]);
});

test('the declarations catch a module that returns the wrong shape', () => {
  const errors = typeCheck(`
    import { defineTransformer } from 'SDK';
    export default defineTransformer({ async preprocess() { return 42; } });
  `);
  expect(errors.length).toBeGreaterThan(0);
});

test('the packaged JavaScript runs on its own', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const sdk = require(sdkDir);
  const tensor = sdk.tensorFromRows('input', 'FP32', [[1, 2], [3, 4]]);
  expect(tensor).toEqual({ name: 'input', datatype: 'FP32', shape: [2, 2], data: [1, 2, 3, 4] });
  expect(new sdk.TransformerError('bad').message).toBe('bad');
  expect(sdk.isV1Request({ instances: [] })).toBe(true);
});
