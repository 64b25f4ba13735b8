// Jest global teardown.
// ---- test cluster (test/cluster): summarize the API server checks and stop the cluster ----
const { teardownTestCluster } = require('./cluster/jest-global');

module.exports = async function globalTeardown() {
  await teardownTestCluster();
};
