#!/usr/bin/env node
// Writes the code blocks of one language from a README section to a file, so that `npx projen bindings:check`
// runs the README's Python and Go examples as it runs the apps (they must not rot).
// Usage: node scripts/readme-snippets.js SECTION-HEADING LANGUAGE OUT-FILE [PREFIX-FILE SUFFIX-FILE]
const fs = require('fs');
const path = require('path');

const [heading, language, out] = process.argv.slice(2);
if (!heading || !language || !out) {
  console.error('usage: node scripts/readme-snippets.js SECTION-HEADING LANGUAGE OUT-FILE');
  process.exit(2);
}
const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
const start = readme.indexOf(`\n## ${heading}\n`);
if (start < 0) throw new Error(`README.md has no section "## ${heading}"`);
const next = readme.indexOf('\n## ', start + 1);
const section = readme.slice(start, next < 0 ? undefined : next);
const blocks = [...section.matchAll(new RegExp('```' + language + '\\n([\\s\\S]*?)```', 'g'))].map(m => m[1]);
if (blocks.length === 0) throw new Error(`README.md's "${heading}" has no \`\`\`${language} block`);
// Go snippets are statements: they become the body of main(), with the imports the README's text names.
const code = language === 'go'
  ? ['package main', '', 'import (',
    '\t"github.com/aws/jsii-runtime-go"',
    '\t"github.com/cdk8s-model-serving/cdk8s-model-serving-go/cdk8smodelserving"',
    '\t"github.com/cdk8s-team/cdk8s-core-go/cdk8s/v2"',
    ')', '', 'func main() {', ...blocks.join('\n').trimEnd().split('\n').map(l => '\t' + l), '}', ''].join('\n')
  : blocks.join('\n');
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, code);
console.log(`${out}: ${blocks.length} ${language} block(s) from README.md "${heading}"`);
