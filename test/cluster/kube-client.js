// @ts-check
/**
 * The few Kubernetes API calls the test cluster needs, over HTTPS with the admin token: server-side
 * apply (optionally dry-run), get, delete and API discovery. Plain node:https because it runs in jest's
 * CommonJS sandbox and in the global setup, where the ESM-only @kubernetes/client-node does not load.
 */
const fs = require('fs');
const https = require('https');

const FIELD_MANAGER = 'cdk8s-model-serving-test';

class KubeClient {
  /**
   * @param {{ server: string, token: string, caFile: string }} conn the `connection` of a cluster's state file
   */
  constructor(conn) {
    this.server = new URL(conn.server);
    this.token = conn.token;
    this.agent = new https.Agent({ ca: fs.readFileSync(conn.caFile), keepAlive: true, maxSockets: 8 });
    /** @type {Map<string, Promise<Map<string, { name: string, namespaced: boolean }>>>} */
    this.discovery = new Map();
  }

  /**
   * One HTTP request; resolves with the status and the parsed JSON body (or the raw text).
   *
   * @param {string} method
   * @param {string} path with query
   * @param {{ body?: unknown, contentType?: string, timeoutMs?: number }} [options]
   * @returns {Promise<{ status: number, body: any }>}
   */
  request(method, path, options = {}) {
    const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    return new Promise((resolve, reject) => {
      const req = https.request({
        host: this.server.hostname,
        port: this.server.port,
        path,
        method,
        agent: this.agent,
        timeout: options.timeoutMs ?? 30_000,
        headers: {
          'authorization': `Bearer ${this.token}`,
          'accept': 'application/json',
          ...(payload ? { 'content-type': options.contentType ?? 'application/json', 'content-length': payload.length } : {}),
        },
      }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body = text;
          try { body = JSON.parse(text); } catch { /* not JSON: keep the text */ }
          resolve({ status: res.statusCode ?? 0, body });
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer from the API server within ${options.timeoutMs ?? 30_000} ms`)));
      req.on('error', reject);
      if (payload) req.write(payload);
      req.end();
    });
  }

  /**
   * The REST resource (plural name, namespaced or not) for `apiVersion` and `kind`, from API discovery.
   *
   * @param {string} apiVersion
   * @param {string} kind
   * @returns {Promise<{ name: string, namespaced: boolean } | undefined>} undefined when the server does not serve the kind
   */
  async resourceFor(apiVersion, kind) {
    let kinds = this.discovery.get(apiVersion);
    if (!kinds) {
      const path = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
      kinds = this.request('GET', path).then(({ status, body }) => {
        const map = new Map();
        if (status === 200) {
          for (const r of body.resources ?? []) if (!r.name.includes('/')) map.set(r.kind, { name: r.name, namespaced: r.namespaced });
        }
        return map;
      });
      this.discovery.set(apiVersion, kinds);
    }
    return (await kinds).get(kind);
  }

  /**
   * The URL path of one object (or of its collection when `name` is omitted).
   *
   * @param {string} apiVersion
   * @param {{ name: string, namespaced: boolean }} resource
   * @param {string | undefined} namespace
   * @param {string} [name]
   */
  static objectPath(apiVersion, resource, namespace, name) {
    const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const ns = resource.namespaced ? `/namespaces/${encodeURIComponent(namespace ?? 'default')}` : '';
    return `${base}${ns}/${resource.name}${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;
  }

  /**
   * Server-side apply of one object, as `kubectl apply --server-side --field-manager=cdk8s-model-serving-test
   * --validate=strict [--dry-run=server]` does it.
   *
   * @param {any} obj a Kubernetes object with apiVersion, kind and metadata.name
   * @param {{ dryRun?: boolean, force?: boolean }} [options]
   * @returns {Promise<{ status: number, body: any }>} the API server's answer (a Status on errors)
   */
  async apply(obj, options = {}) {
    const resource = await this.resourceFor(obj.apiVersion, obj.kind);
    if (!resource) {
      return { status: 404, body: { kind: 'Status', message: `the API server does not serve ${obj.kind} in ${obj.apiVersion} (is its CRD in imports/?)` } };
    }
    const query = new URLSearchParams({ fieldManager: FIELD_MANAGER, fieldValidation: 'Strict' });
    if (options.dryRun) query.set('dryRun', 'All');
    if (options.force) query.set('force', 'true');
    const path = `${KubeClient.objectPath(obj.apiVersion, resource, obj.metadata?.namespace, obj.metadata?.name ?? '')}?${query}`;
    return this.request('PATCH', path, { body: obj, contentType: 'application/apply-patch+yaml' });
  }

  /** Closes idle keep-alive sockets so the process can exit. */
  close() {
    this.agent.destroy();
  }
}

module.exports = { KubeClient, FIELD_MANAGER };
