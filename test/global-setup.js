// Jest global setup: bundle the model server once, so server tests spawn the code in src/.
const { bundleServer } = require('../scripts/bundle-server');

module.exports = async function globalSetup() {
  bundleServer();
};
