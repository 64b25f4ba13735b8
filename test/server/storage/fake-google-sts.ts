// A fake Google Security Token Service on loopback: the OAuth 2.0 token exchange (RFC 8693) that
// an `external_account` credentials file (Workload Identity Federation, pointed at by
// GOOGLE_APPLICATION_CREDENTIALS) leads google-auth-library to call, trading a subject token read
// from a file for a short-lived access token. Checks the audience and the subject token.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { IssuedToken } from './fake-gce-metadata';

export interface FakeGoogleSts {
  readonly url: string;
  readonly issued: IssuedToken[];
  readonly refused: string[];
  valid(token: string): boolean;
  close(): Promise<void>;
}

export async function startFakeGoogleSts(o: { audience: string; subjectToken: string; lifetimeSeconds: number }): Promise<FakeGoogleSts> {
  const issued: IssuedToken[] = [];
  const refused: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      const form = new URLSearchParams(body);
      const fail = (error: string, description: string) => {
        refused.push(`${error}: ${description}`);
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error, error_description: description }));
      };
      if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:token-exchange') return fail('unsupported_grant_type', String(form.get('grant_type')));
      if (form.get('audience') !== o.audience) return fail('invalid_target', `unknown audience ${form.get('audience')}`);
      if (form.get('subject_token') !== o.subjectToken) return fail('invalid_grant', 'the subject token does not match');
      const t: IssuedToken = { token: `ya29.fake-sts-token-${issued.length + 1}`, expiresAt: Date.now() + o.lifetimeSeconds * 1000, scopes: form.get('scope') ?? '' };
      issued.push(t);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({
        access_token: t.token,
        issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        token_type: 'Bearer',
        expires_in: o.lifetimeSeconds,
      }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/token`,
    issued,
    refused,
    valid: (token) => issued.some((t) => t.token === token && t.expiresAt > Date.now()),
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
