/** The import corpus (test/kserve/corpus/): KServe's documented manifests, read and imported once per test file. */
import * as fs from 'fs';
import * as path from 'path';
import { InputDocument, parseDocuments } from '../../src/kserve/import/documents';
import { importKServe } from '../../src/kserve/import/import-documents';
import { ImportPlan } from '../../src/kserve/import/plan';

export const CORPUS_DIR = path.join(__dirname, 'corpus');

export interface CorpusFile {
  readonly file: string;
  readonly text: string;
  readonly docs: InputDocument[];
  readonly plan: ImportPlan;
}

export function readCorpus(): CorpusFile[] {
  return fs.readdirSync(CORPUS_DIR).filter(f => f.endsWith('.yaml')).sort().map(file => {
    const text = fs.readFileSync(path.join(CORPUS_DIR, file), 'utf8');
    const docs = parseDocuments(file, text);
    return { file, text, docs, plan: importKServe(docs) };
  });
}
