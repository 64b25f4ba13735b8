#!/usr/bin/env node
// @ts-check
/**
 * `npx projen cluster:build|cluster:up|cluster:down`: the test cluster for people and their tools.
 *
 *   node test/cluster/cli.js build   build etcd, kube-apiserver and kube-controller-manager (cached)
 *   node test/cluster/cli.js up      start a cluster and print the path of its kubeconfig
 *   node test/cluster/cli.js down    stop it and remove its data
 *
 * The cluster lives in $CDK8S_CLUSTER_DIR (default: <tmp>/cdk8s-model-serving-cluster).
 */
const os = require('os');
const path = require('path');
const { ensureBinaries, binDir, kubernetesVersion } = require('./binaries');
const { isRunning, readState, startCluster, stopCluster } = require('./cluster');

const DIR = process.env.CDK8S_CLUSTER_DIR ?? path.join(os.tmpdir(), 'cdk8s-model-serving-cluster');

async function main(command) {
  switch (command) {
    case 'build': {
      const started = Date.now();
      ensureBinaries();
      console.error(`cluster: Kubernetes ${kubernetesVersion()} binaries ready in ${binDir()} (${Math.round((Date.now() - started) / 1000)} s)`);
      return 0;
    }
    case 'up': {
      if (isRunning(DIR)) {
        console.error(`cluster: already running in ${DIR}`);
        console.log(readState(DIR)?.kubeconfig);
        return 0;
      }
      stopCluster(DIR); // leftovers of a cluster whose processes died
      const started = Date.now();
      const state = await startCluster(DIR);
      console.error(`cluster: Kubernetes ${state.kubernetesVersion} at ${state.connection.server}, ${state.crds} CRDs established, in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      console.error(`cluster: try  kubectl --kubeconfig ${state.kubeconfig} get crds`);
      console.log(state.kubeconfig);
      return 0;
    }
    case 'down': {
      const running = readState(DIR) !== undefined;
      stopCluster(DIR);
      console.error(running ? `cluster: stopped and removed ${DIR}` : `cluster: none running in ${DIR}`);
      return 0;
    }
    default:
      console.error('usage: node test/cluster/cli.js build|up|down');
      return 2;
  }
}

main(process.argv[2]).then((code) => process.exit(code), (e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
