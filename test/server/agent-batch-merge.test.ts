/**
 * The agent's merge and split of V1 and V2 requests (src/server/agent/batch-merge.ts), on plain
 * JSON: which requests may share a batch, the merged request, and answers that do not fit.
 * (The processes themselves: test/server/agent.test.ts.)
 */
import { batchable, mergeRequests, splitAnswer, SplitError } from '../../src/server/agent/batch-merge';

const v2 = (rows: number[][], extra: Record<string, unknown> = {}) => ({
  ...extra,
  inputs: [{ name: 'x', datatype: 'FP32', shape: [rows.length, 2], data: rows }],
});

describe('which requests can share a batch', () => {
  test('V2: same names, datatypes, trailing shapes, outputs and parameters share a key; ids do not matter', () => {
    const a = batchable('v2', v2([[1, 2]], { id: 'a' }))!;
    const b = batchable('v2', v2([[3, 4], [5, 6]], { id: 'b' }))!;
    expect([a.rows, b.rows]).toEqual([1, 2]);
    expect(a.compat).toBe(b.compat);
    expect(batchable('v2', { inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 2], data: [1, 2] }] })!.compat).not.toBe(a.compat);
    expect(batchable('v2', { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] })!.compat).not.toBe(a.compat);
    expect(batchable('v2', v2([[1, 2]], { outputs: [{ name: 'y' }] }))!.compat).not.toBe(a.compat);
  });

  test('V2: sent alone when the data does not fill the shape, inputs disagree on dim 0, or data is binary', () => {
    expect(batchable('v2', { inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 2], data: [1, 2, 3] }] })).toBeUndefined();
    expect(batchable('v2', {
      inputs: [
        { name: 'x', datatype: 'FP32', shape: [1, 2], data: [1, 2] },
        { name: 'y', datatype: 'FP32', shape: [2, 1], data: [1, 2] },
      ],
    })).toBeUndefined();
    expect(batchable('v2', { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2], parameters: { binary_data_size: 8 }, data: [] }] })).toBeUndefined();
    expect(batchable('v2', 'not an object')).toBeUndefined();
  });

  test('V1: the instances count; other keys must match', () => {
    const a = batchable('v1', { instances: [[1], [2]] })!;
    expect(a.rows).toBe(2);
    expect(batchable('v1', { instances: [[3]] })!.compat).toBe(a.compat);
    expect(batchable('v1', { instances: [[3]], parameters: { t: 1 } })!.compat).not.toBe(a.compat);
    expect(batchable('v1', { instances: [] })).toBeUndefined();
  });
});

describe('merge and split', () => {
  test('V2: nested data is joined row-major along dim 0 and every output cut back, each with its id', () => {
    const batch = [batchable('v2', v2([[1, 2]], { id: 'a' }))!, batchable('v2', v2([[3, 4], [5, 6]], { id: 'b' }))!];
    expect(mergeRequests('v2', batch)).toEqual({ inputs: [{ name: 'x', datatype: 'FP32', shape: [3, 2], data: [1, 2, 3, 4, 5, 6] }] });
    const answer = { model_name: 'm', id: 'batch', outputs: [{ name: 'y', datatype: 'FP32', shape: [3, 2], data: [[10, 20], [30, 40], [50, 60]] }, { name: 'l', datatype: 'INT64', shape: [3], data: [0, 1, 2] }] };
    expect(splitAnswer('v2', batch, answer)).toEqual([
      { model_name: 'm', id: 'a', outputs: [{ name: 'y', datatype: 'FP32', shape: [1, 2], data: [10, 20] }, { name: 'l', datatype: 'INT64', shape: [1], data: [0] }] },
      { model_name: 'm', id: 'b', outputs: [{ name: 'y', datatype: 'FP32', shape: [2, 2], data: [30, 40, 50, 60] }, { name: 'l', datatype: 'INT64', shape: [2], data: [1, 2] }] },
    ]);
  });

  test('V2: an output whose dim 0 is not the batch\'s rows is a SplitError naming it', () => {
    const batch = [batchable('v2', v2([[1, 2]]))!, batchable('v2', v2([[3, 4]]))!];
    expect(() => splitAnswer('v2', batch, { outputs: [{ name: 'y', datatype: 'FP32', shape: [1], data: [1] }] }))
      .toThrow(new SplitError("output 'y' with 1 rows (shape [1]) for 2 rows"));
  });

  test('V1: predictions cut back in order; a wrong count is a SplitError', () => {
    const batch = [batchable('v1', { instances: [[1]] })!, batchable('v1', { instances: [[2], [3]] })!];
    expect(mergeRequests('v1', batch)).toEqual({ instances: [[1], [2], [3]] });
    expect(splitAnswer('v1', batch, { predictions: ['a', 'b', 'c'] })).toEqual([{ predictions: ['a'] }, { predictions: ['b', 'c'] }]);
    expect(() => splitAnswer('v1', batch, { predictions: ['a'] })).toThrow('1 predictions for 3 instances');
  });
});
