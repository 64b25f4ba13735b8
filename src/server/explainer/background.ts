/**
 * The explainer's background data set: rows of feature values that stand for "feature absent".
 *
 * `--explainer-background` is inline JSON (`[[...], ...]` or `{"instances": [[...]],
 * "feature_names": [...]}`) or a path, relative to the model directory, of a `.json` file (the
 * same shapes) or a `.csv` file (numbers; a first line with non-numeric cells is the header of
 * feature names). Without the flag, `<model dir>/background.json` or `background.csv`. Sets
 * larger than `--explainer-max-background` rows are subsampled with the seed (the cost of an
 * explanation grows linearly with the background).
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Prng } from './prng';

export interface Background {
  readonly rows: number[][];
  readonly featureNames?: string[];
  /** Where it came from, for the startup log. */
  readonly source: string;
  /** Rows before subsampling. */
  readonly totalRows: number;
}

/** A background that cannot be used; the message says why. */
export class BackgroundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackgroundError';
  }
}

/** Loads the background data set (see the module comment). */
export function loadBackground(spec: string | undefined, modelDir: string, maxRows: number, seed: number): Background {
  let source: string;
  let parsed: { rows: number[][]; featureNames?: string[] };
  if (spec !== undefined && /^\s*[[{]/.test(spec)) {
    source = 'inline';
    parsed = fromJson(spec, source);
  } else {
    const candidates = spec !== undefined ? [path.resolve(modelDir, spec)] : [path.join(modelDir, 'background.json'), path.join(modelDir, 'background.csv')];
    const file = candidates.find((f) => existsSync(f));
    if (!file) {
      throw new BackgroundError(`no background data set: ${candidates.join(' or ')} not found (give --explainer-background a file or inline JSON rows)`);
    }
    source = file;
    const text = readFileSync(file, 'utf8');
    parsed = /\.csv$/i.test(file) ? fromCsv(text, file) : fromJson(text, file);
  }
  const { rows } = parsed;
  if (rows.length === 0) throw new BackgroundError(`background data set ${source} has no rows`);
  const d = rows[0].length;
  rows.forEach((r, i) => {
    if (r.length !== d) throw new BackgroundError(`background data set ${source}: row ${i} has ${r.length} values, row 0 has ${d}`);
    if (r.some((v) => typeof v !== 'number' || !Number.isFinite(v))) throw new BackgroundError(`background data set ${source}: row ${i} holds a value that is not a finite number`);
  });
  if (parsed.featureNames && parsed.featureNames.length !== d) {
    throw new BackgroundError(`background data set ${source}: ${parsed.featureNames.length} feature names for ${d} columns`);
  }
  const kept = rows.length > maxRows ? new Prng(seed).sample(rows.length, maxRows).sort((a, b) => a - b).map((i) => rows[i]) : rows;
  return { rows: kept, featureNames: parsed.featureNames, source, totalRows: rows.length };
}

function fromJson(text: string, source: string): { rows: number[][]; featureNames?: string[] } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new BackgroundError(`background data set ${source} is not valid JSON: ${(err as Error).message}`);
  }
  if (Array.isArray(v)) return { rows: v as number[][] };
  const o = v as { instances?: unknown; feature_names?: unknown };
  if (o && Array.isArray(o.instances) && o.instances.every(Array.isArray)) {
    const names = Array.isArray(o.feature_names) ? o.feature_names.map(String) : undefined;
    return { rows: o.instances as number[][], featureNames: names };
  }
  throw new BackgroundError(`background data set ${source} must be an array of rows or {"instances": [[...]], "feature_names": [...]}`);
}

function fromCsv(text: string, source: string): { rows: number[][]; featureNames?: string[] } {
  const lines = text.split(/\r?\n/).filter((l) => l.trim().length > 0);
  let featureNames: string[] | undefined;
  if (lines.length > 0 && lines[0].split(',').some((c) => c.trim() === '' || Number.isNaN(Number(c)))) {
    featureNames = lines.shift()!.split(',').map((c) => c.trim().replace(/^"(.*)"$/, '$1'));
  }
  const rows = lines.map((l, i) => l.split(',').map((c) => {
    const n = Number(c);
    if (c.trim() === '' || Number.isNaN(n)) throw new BackgroundError(`background data set ${source}: line ${i + (featureNames ? 2 : 1)} has a value that is not a number: '${c}'`);
    return n;
  }));
  return { rows, featureNames };
}
