// @ts-check
/**
 * Starts and stops a test cluster the envtest way: a real etcd and kube-apiserver (plus
 * kube-controller-manager for garbage collection, namespaces and service accounts), no kubelet. All
 * on free loopback ports, with certificates made by openssl, a bearer-token admin, every CRD in
 * imports/ installed and Established. `npx projen cluster:up`/`cluster:down` and the jest global setup
 * both use this file.
 */
const { spawn, execFileSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const net = require('net');
const path = require('path');
const YAML = require('yaml');
const { ensureBinaries, kubernetesVersion } = require('./binaries');
const { KubeClient } = require('./kube-client');

const REPO = path.join(__dirname, '..', '..');
const STATE_FILE = 'cluster.json';

/** A free TCP port on 127.0.0.1 (the kernel picks; the tiny race before the server binds it is acceptable here). */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

/** A CA, a serving certificate for 127.0.0.1/localhost, and the service-account signing key pair. */
function makeCertificates(pki) {
  fs.mkdirSync(pki, { recursive: true, mode: 0o700 });
  const openssl = (...args) => execFileSync('openssl', args, { cwd: pki, stdio: ['ignore', 'ignore', 'pipe'] });
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '30',
    '-subj', '/CN=cdk8s-model-serving-test-ca', '-keyout', 'ca.key', '-out', 'ca.crt');
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-subj', '/CN=kube-apiserver', '-keyout', 'apiserver.key', '-out', 'apiserver.csr');
  fs.writeFileSync(path.join(pki, 'apiserver.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n');
  openssl('x509', '-req', '-in', 'apiserver.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-days', '30', '-extfile', 'apiserver.ext', '-out', 'apiserver.crt');
  const sa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  fs.writeFileSync(path.join(pki, 'sa.key'), sa.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  fs.writeFileSync(path.join(pki, 'sa.pub'), sa.publicKey.export({ type: 'spki', format: 'pem' }));
}

// ---- ctl-core (issue 14) ----
/** Audit policy: every request that changes something, at Metadata level (no bodies); reads are not logged. */
function writeAuditPolicy(pki) {
  const file = path.join(pki, 'audit-policy.yaml');
  fs.writeFileSync(file, YAML.stringify({
    apiVersion: 'audit.k8s.io/v1',
    kind: 'Policy',
    omitStages: ['RequestReceived'],
    rules: [
      { level: 'None', verbs: ['get', 'list', 'watch'] },
      { level: 'None', nonResourceURLs: ['/*'] },
      { level: 'Metadata' },
    ],
  }));
  return file;
}
// ---- end ctl-core ----

/** A kubeconfig for the admin token; kubectl and client libraries read it. */
function kubeconfigYaml(server, caFile, token) {
  return YAML.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'cdk8s-model-serving-test', cluster: { 'server': server, 'certificate-authority': caFile } }],
    users: [{ name: 'admin', user: { token } }],
    contexts: [{ name: 'cdk8s-model-serving-test', context: { cluster: 'cdk8s-model-serving-test', user: 'admin' } }],
    ['current-context']: 'cdk8s-model-serving-test',
  });
}

/** Starts `bin` in its own process group, logging to `<dir>/logs/<name>.log`; returns its pid. */
function startProcess(dir, name, bin, args) {
  const logs = path.join(dir, 'logs');
  fs.mkdirSync(logs, { recursive: true });
  const out = fs.openSync(path.join(logs, `${name}.log`), 'a');
  const child = spawn(bin, args, { detached: true, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  child.unref();
  if (child.pid === undefined) throw new Error(`cluster: could not start ${bin}`);
  return child.pid;
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The last lines of a component's log, for error messages. */
function logTail(dir, name, lines = 15) {
  try {
    return fs.readFileSync(path.join(dir, 'logs', `${name}.log`), 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** An error that ends `waitFor` at once (a process died), instead of being retried. */
class FatalError extends Error {}

/** Polls `check` every 200 ms until it returns true; throws `what` after `timeoutMs`. */
async function waitFor(what, timeoutMs, check) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (e) {
      if (e instanceof FatalError) throw e;
      last = e instanceof Error ? e.message : String(e);
    }
    await sleep(200);
  }
  throw new Error(`cluster: timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last})` : ''}`);
}

/** Every CustomResourceDefinition in the YAML files of imports/. */
function importedCrds() {
  const dir = path.join(REPO, 'imports');
  const crds = [];
  for (const file of fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    for (const doc of YAML.parseAllDocuments(fs.readFileSync(path.join(dir, file), 'utf8'))) {
      const obj = doc.toJS({ maxAliasCount: -1 });
      if (obj?.kind === 'CustomResourceDefinition') crds.push(obj);
    }
  }
  return crds;
}

/** Applies every CRD in imports/ and waits until each is Established. Returns how many. */
async function installCrds(client) {
  const crds = importedCrds();
  await Promise.all(crds.map(async (crd) => {
    // KServe's CRD is too large for the last-applied annotation of a client-side apply; server-side apply has none.
    const r = await client.apply(crd, { force: true });
    if (r.status >= 300) throw new Error(`cluster: CRD ${crd.metadata.name} was rejected (${r.status}): ${r.body?.message ?? JSON.stringify(r.body)}`);
  }));
  await waitFor('every CRD to be Established', 60_000, async () => {
    const { body } = await client.request('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions');
    const established = new Set((body.items ?? [])
      .filter((c) => (c.status?.conditions ?? []).some((cond) => cond.type === 'Established' && cond.status === 'True'))
      .map((c) => c.metadata.name));
    return crds.every((c) => established.has(c.metadata.name));
  });
  return crds.length;
}

/**
 * Starts a cluster whose data, certificates, logs and kubeconfig live in `dir` (created, must be empty
 * or absent). Builds the binaries first if the pins changed.
 *
 * @param {string} dir
 * @param {{ log?: (line: string) => void, controllerManager?: boolean }} [options]
 * @returns {Promise<ClusterState>}
 *
 * @typedef {{ dir: string, kubeconfig: string, kubernetesVersion: string, crds: number, ready: boolean,
 *   connection: { server: string, token: string, caFile: string },
 *   pids: Record<string, number> }} ClusterState
 */
async function startCluster(dir, options = {}) {
  const log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
  const bins = ensureBinaries({ log });
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pki = path.join(dir, 'pki');
  makeCertificates(pki);
  const token = crypto.randomBytes(24).toString('hex');
  fs.writeFileSync(path.join(pki, 'tokens.csv'), `${token},admin,admin,system:masters\n`, { mode: 0o600 });
  const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
  const server = `https://127.0.0.1:${apiPort}`;
  const caFile = path.join(pki, 'ca.crt');
  const kubeconfig = path.join(dir, 'kubeconfig');
  fs.writeFileSync(kubeconfig, kubeconfigYaml(server, caFile, token), { mode: 0o600 });

  /** @type {ClusterState} */
  const state = { dir, kubeconfig, kubernetesVersion: kubernetesVersion(), crds: 0, ready: false, connection: { server, token, caFile }, pids: {} };
  const save = () => fs.writeFileSync(path.join(dir, STATE_FILE), JSON.stringify(state, null, 2));
  try {
    state.pids.etcd = startProcess(dir, 'etcd', bins.etcd, [
      '--data-dir', path.join(dir, 'etcd'),
      '--listen-client-urls', `http://127.0.0.1:${etcdClient}`,
      '--advertise-client-urls', `http://127.0.0.1:${etcdClient}`,
      '--listen-peer-urls', `http://127.0.0.1:${etcdPeer}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${etcdPeer}`,
      '--initial-cluster', `test=http://127.0.0.1:${etcdPeer}`,
      // A throwaway store: no fsync, and room for KServe's 2 MB CRD.
      '--name', 'test', '--unsafe-no-fsync', '--max-request-bytes', String(10 * 1024 * 1024), '--log-level', 'warn',
    ]);
    save();
    state.pids['kube-apiserver'] = startProcess(dir, 'kube-apiserver', bins['kube-apiserver'], [
      '--etcd-servers', `http://127.0.0.1:${etcdClient}`,
      '--bind-address', '127.0.0.1', '--advertise-address', '127.0.0.1', '--secure-port', String(apiPort),
      // No kubelets and no Service network: the `kubernetes` Service's endpoints are not maintained.
      '--endpoint-reconciler-type', 'none',
      '--tls-cert-file', path.join(pki, 'apiserver.crt'), '--tls-private-key-file', path.join(pki, 'apiserver.key'),
      '--client-ca-file', caFile,
      '--token-auth-file', path.join(pki, 'tokens.csv'),
      '--authorization-mode', 'RBAC',
      '--service-account-issuer', 'https://kubernetes.default.svc',
      '--service-account-key-file', path.join(pki, 'sa.pub'),
      '--service-account-signing-key-file', path.join(pki, 'sa.key'),
      '--service-cluster-ip-range', '10.96.0.0/16',
      '--allow-privileged=true',
      // ---- ctl-core (issue 14): an audit log of every write (who, what, which namespace), so the controller
      // tests count the API server's own record of the controller's writes (test/controller/api-writes.ts) ----
      '--audit-policy-file', writeAuditPolicy(pki),
      '--audit-log-path', path.join(dir, 'logs', 'audit.log'),
      '--audit-log-format', 'json',
      '--audit-log-mode', 'blocking',
      // ---- end ctl-core ----
    ]);
    save();
    const client = new KubeClient(state.connection);
    try {
      await waitFor('kube-apiserver /readyz', 120_000, async () => {
        for (const [name, pid] of Object.entries(state.pids)) {
          if (!isAlive(pid)) throw new FatalError(`cluster: ${name} exited`);
        }
        return (await client.request('GET', '/readyz', { timeoutMs: 2000 })).status === 200;
      }).catch((e) => {
        throw new Error(`${e.message}\n--- kube-apiserver log ---\n${logTail(dir, 'kube-apiserver')}\n--- etcd log ---\n${logTail(dir, 'etcd')}`);
      });
      if (options.controllerManager !== false) {
        state.pids['kube-controller-manager'] = startProcess(dir, 'kube-controller-manager', bins['kube-controller-manager'], [
          '--kubeconfig', kubeconfig,
          '--controllers', 'garbage-collector-controller,namespace-controller,serviceaccount-controller,serviceaccount-token-controller',
          '--service-account-private-key-file', path.join(pki, 'sa.key'),
          '--root-ca-file', caFile,
          '--leader-elect=false', '--secure-port=0',
        ]);
        save();
      }
      state.crds = await installCrds(client);
    } finally {
      client.close();
    }
    state.ready = true;
    save();
    return state;
  } catch (e) {
    stopCluster(dir);
    throw e;
  }
}

/** The state of the cluster in `dir`, or undefined when none was started there. */
function readState(dir) {
  const file = path.join(dir, STATE_FILE);
  return fs.existsSync(file) ? /** @type {ClusterState} */ (JSON.parse(fs.readFileSync(file, 'utf8'))) : undefined;
}

/** `true` when every process of the cluster in `dir` runs. */
function isRunning(dir) {
  const state = readState(dir);
  return state !== undefined && Object.values(state.pids).length > 0 && Object.values(state.pids).every(isAlive);
}

/**
 * Stops every process of the cluster in `dir` (TERM, then KILL after 1 s: its data is thrown away, so a
 * graceful shutdown, which takes kube-apiserver several seconds, buys nothing) and removes `dir`.
 */
function stopCluster(dir) {
  const state = readState(dir);
  const order = ['kube-controller-manager', 'kube-apiserver', 'etcd'];
  for (const name of order) {
    const pid = state?.pids[name];
    if (pid === undefined || !isAlive(pid)) continue;
    try { process.kill(-pid, 'SIGTERM'); } catch { /* already gone */ }
    const deadline = Date.now() + 1_000;
    while (isAlive(pid) && Date.now() < deadline) execFileSync('sleep', ['0.1']);
    if (isAlive(pid)) {
      try { process.kill(-pid, 'SIGKILL'); } catch { /* already gone */ }
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

module.exports = { importedCrds, isRunning, readState, startCluster, stopCluster };
