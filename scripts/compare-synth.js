#!/usr/bin/env node
// Compares synthesized manifests with a reference: the same objects, parsed (key order and YAML formatting
// do not count; document order does not either, since each binding may add constructs in its own order).
// Usage: node scripts/compare-synth.js REFERENCE.yaml CANDIDATE.yaml... ; exits 1 on any difference.
const fs = require('fs');
const { isDeepStrictEqual } = require('util');
const YAML = require('yaml');

const objectKey = (o) => `${o.apiVersion}/${o.kind} ${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

function load(file) {
  const docs = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8')).map(d => d.toJS()).filter(d => d != null);
  return new Map(docs.map(d => [objectKey(d), d]));
}

const [reference, ...candidates] = process.argv.slice(2);
if (!reference || candidates.length === 0) {
  console.error('usage: node scripts/compare-synth.js REFERENCE.yaml CANDIDATE.yaml...');
  process.exit(2);
}
const want = load(reference);
let failed = false;
for (const file of candidates) {
  const got = load(file);
  const problems = [];
  for (const key of want.keys()) if (!got.has(key)) problems.push(`missing ${key}`);
  for (const key of got.keys()) if (!want.has(key)) problems.push(`extra ${key}`);
  for (const [key, obj] of want) if (got.has(key) && !isDeepStrictEqual(obj, got.get(key))) problems.push(`differs ${key}`);
  const sameBytes = fs.readFileSync(file).equals(fs.readFileSync(reference));
  if (problems.length) {
    failed = true;
    console.log(`FAIL ${file}: ${problems.length} difference(s) from ${reference}\n  ${problems.join('\n  ')}`);
  } else {
    console.log(`ok   ${file}: ${got.size} objects equal to ${reference}${sameBytes ? ' (byte-identical)' : ''}`);
  }
}
process.exit(failed ? 1 : 0);
