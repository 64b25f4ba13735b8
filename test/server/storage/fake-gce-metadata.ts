// A fake GCE/GKE metadata server on loopback: what GKE Workload Identity's metadata server answers
// a pod (the instance probe, and OAuth access tokens for the bound Google service account), with
// the `Metadata-Flavor: Google` handshake both ways. Tokens are short-lived, so clients refresh.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface IssuedToken {
  readonly token: string;
  readonly expiresAt: number;
  readonly scopes: string;
}

export interface FakeMetadataServer {
  /** host:port, as GCE_METADATA_HOST takes it. */
  readonly host: string;
  readonly issued: IssuedToken[];
  /** Requests without the Metadata-Flavor header (refused, as the real server does). */
  readonly refused: string[];
  /** Whether `token` was issued here and is still valid. */
  valid(token: string): boolean;
  close(): Promise<void>;
}

export async function startFakeGceMetadata(o: { lifetimeSeconds: number; serviceAccount: string }): Promise<FakeMetadataServer> {
  const issued: IssuedToken[] = [];
  const refused: string[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://metadata');
    if (req.headers['metadata-flavor'] !== 'Google') {
      refused.push(url.pathname);
      res.writeHead(403, { 'content-type': 'text/plain' });
      res.end('Missing Metadata-Flavor:Google header');
      return;
    }
    const reply = (type: string, body: string) => {
      res.writeHead(200, { 'metadata-flavor': 'Google', 'content-type': type });
      res.end(body);
    };
    const sa = '/computeMetadata/v1/instance/service-accounts/default';
    if (url.pathname === '/computeMetadata/v1/instance' || url.pathname === '/computeMetadata/v1/instance/') return reply('text/plain', 'attributes/\nservice-accounts/\n');
    if (url.pathname === '/computeMetadata/v1/project/project-id') return reply('text/plain', 'fake-project');
    if (url.pathname === `${sa}/email`) return reply('text/plain', o.serviceAccount);
    if (url.pathname === `${sa}/token`) {
      const t: IssuedToken = { token: `ya29.fake-metadata-token-${issued.length + 1}`, expiresAt: Date.now() + o.lifetimeSeconds * 1000, scopes: url.searchParams.get('scopes') ?? '' };
      issued.push(t);
      return reply('application/json', JSON.stringify({ access_token: t.token, expires_in: o.lifetimeSeconds, token_type: 'Bearer' }));
    }
    res.writeHead(404, { 'metadata-flavor': 'Google' });
    res.end('not found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    issued,
    refused,
    valid: (token) => issued.some((t) => t.token === token && t.expiresAt > Date.now()),
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
