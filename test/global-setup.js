// Jest global setup: bundle the model server once, so server tests spawn the code in src/.
const { bundleServer } = require('../scripts/bundle-server');
// ---- test cluster (test/cluster): one real etcd + kube-apiserver per run ----
const { setupTestCluster } = require('./cluster/jest-global');

module.exports = async function globalSetup() {
  bundleServer();
  // ---- test cluster ----
  await setupTestCluster();
};
