/**
 * Jest `setupFilesAfterEnv`: every object a test file synthesizes (`Testing.synth`) or gives the offline
 * validator (`validateManifest`) is also checked by the real kube-apiserver of the test cluster, in
 * one batch after the file's tests (test/cluster/server-check.ts).
 */
import { Testing } from 'cdk8s';
import { recordForApiServer } from './api-server-queue';
import { checkRecorded, hasCluster, saveReport } from './server-check';

// Objects that tests synthesize without asking the offline validator are queued here; everything the
// offline validator sees (validateManifest in test/validation/schema-validator.ts: unit tests, examples'
// YAML, the validator's own cases) is queued there.
const synth = Testing.synth.bind(Testing);
Testing.synth = (chart) => {
  const objs = synth(chart);
  recordForApiServer(objs);
  return objs;
};

afterAll(async () => {
  if (!hasCluster()) return; // test/global-setup.js already said why (or failed the run under CI)
  const report = await checkRecorded(expect.getState().testPath ?? 'unknown');
  if (report.objects > 0) saveReport(report);
  if (report.serverStricter.length > 0) {
    throw new Error(`the API server rejects ${report.serverStricter.length} object(s) that the offline validator accepts `
      + `(server-side apply, dryRun=All, fieldValidation=Strict, namespace ${report.namespace}):\n`
      + report.serverStricter.map((d) => `  - ${d.object}: ${d.server}`).join('\n'));
  }
}, 360_000); // the cluster may still be starting when the first file ends
