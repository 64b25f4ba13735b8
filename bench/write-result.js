// One way every closed-loop benchmark records a run: the machine's facts, the run's own fields and
// its wall time, as JSON under bench/results/, and a line saying where it went.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');

/** Writes `{ date, node, cpus, ...fields, seconds }` to `file`; `started` is the run's Date.now() at its start. */
function writeResult(file, fields, started) {
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    ...fields,
    seconds: Math.round((Date.now() - started) / 1000),
  };
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`\nwrote ${path.relative(ROOT, file)} (${result.seconds} s)`);
  return result;
}

module.exports = { writeResult };
