// Jest global setup: bundle the model server once, so server tests spawn the code in src/.
const { bundleServer } = require('../scripts/bundle-server');
// ---- ctl-core (issue 14): the `cdk8s-model-serving` tool (controller), spawned by test/controller ----
const { bundleTool } = require('../scripts/bundle-tool');
// ---- test cluster (test/cluster): one real etcd + kube-apiserver per run ----
const { setupTestCluster } = require('./cluster/jest-global');

module.exports = async function globalSetup() {
  bundleServer();
  bundleTool(); // ctl-core
  // ---- test cluster ----
  await setupTestCluster();
};
