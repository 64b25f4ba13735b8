// A fake AWS STS on loopback: answers AssumeRoleWithWebIdentity (what IRSA's web identity token
// file leads the SDK to call) with credentials it hands out, after checking the role and the
// token. Also a fake EKS Pod Identity agent (the container credentials endpoint). Fakes: the real
// services need AWS; these speak their wire formats, as documented, and nothing more.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/** Credentials a fake handed out, to check against what a store received. */
export interface IssuedCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  readonly expiresAt: number;
}

export interface FakeCredentialServer {
  readonly url: string;
  /** Every set of credentials handed out, in order. */
  readonly issued: IssuedCredentials[];
  /** Requests refused (wrong role, token or authorization). */
  readonly refused: string[];
  close(): Promise<void>;
}

export interface FakeStsOptions {
  readonly roleArn: string;
  /** The web identity token the caller must present (the token file's contents). */
  readonly webIdentityToken: string;
  /** Key pair to hand out (the store must know it). */
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Lifetime of what it hands out: short, to make the client refresh. */
  readonly lifetimeMs: number;
}

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function closer(server: http.Server): () => Promise<void> {
  return async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  };
}

function readAll(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => resolve(body));
  });
}

/** Starts the fake STS. */
export async function startFakeSts(o: FakeStsOptions): Promise<FakeCredentialServer> {
  const issued: IssuedCredentials[] = [];
  const refused: string[] = [];
  const server = http.createServer(async (req, res) => {
    const form = new URLSearchParams(await readAll(req));
    const fail = (status: number, code: string, message: string) => {
      refused.push(`${code}: ${message}`);
      res.writeHead(status, { 'content-type': 'text/xml' });
      res.end(`<ErrorResponse><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>fake</RequestId></ErrorResponse>`);
    };
    if (form.get('Action') !== 'AssumeRoleWithWebIdentity') return fail(400, 'InvalidAction', `unsupported action ${form.get('Action')}`);
    if (form.get('RoleArn') !== o.roleArn) return fail(403, 'AccessDenied', `not authorized to assume ${form.get('RoleArn')}`);
    if (form.get('WebIdentityToken') !== o.webIdentityToken) return fail(400, 'InvalidIdentityToken', 'token does not match');
    const creds: IssuedCredentials = {
      accessKeyId: o.accessKeyId,
      secretAccessKey: o.secretAccessKey,
      sessionToken: `fake-sts-session-${issued.length + 1}`,
      expiresAt: Date.now() + o.lifetimeMs,
    };
    issued.push(creds);
    res.writeHead(200, { 'content-type': 'text/xml' });
    res.end(`<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>system:serviceaccount:default:model</SubjectFromWebIdentityToken>
    <AssumedRoleUser><Arn>${o.roleArn}/${form.get('RoleSessionName') ?? ''}</Arn><AssumedRoleId>AROAFAKE:${form.get('RoleSessionName') ?? ''}</AssumedRoleId></AssumedRoleUser>
    <Credentials>
      <AccessKeyId>${creds.accessKeyId}</AccessKeyId>
      <SecretAccessKey>${creds.secretAccessKey}</SecretAccessKey>
      <SessionToken>${creds.sessionToken}</SessionToken>
      <Expiration>${new Date(creds.expiresAt).toISOString()}</Expiration>
    </Credentials>
    <Audience>sts.amazonaws.com</Audience>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>fake-${issued.length}</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>`);
  });
  return { url: await listen(server), issued, refused, close: closer(server) };
}

/** Starts a fake EKS Pod Identity agent: GET with the pod's token in `Authorization`. */
export interface FakePodIdentityOptions {
  /** The pod's token, which the agent expects in `Authorization`. */
  readonly authorizationToken: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly lifetimeMs: number;
}

export async function startFakePodIdentityAgent(o: FakePodIdentityOptions): Promise<FakeCredentialServer> {
  const issued: IssuedCredentials[] = [];
  const refused: string[] = [];
  const server = http.createServer((req, res) => {
    if (req.headers.authorization !== o.authorizationToken) {
      refused.push(`authorization ${req.headers.authorization ?? '(none)'}`);
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: 'invalid token' }));
      return;
    }
    const creds: IssuedCredentials = {
      accessKeyId: o.accessKeyId,
      secretAccessKey: o.secretAccessKey,
      sessionToken: `fake-pod-identity-session-${issued.length + 1}`,
      expiresAt: Date.now() + o.lifetimeMs,
    };
    issued.push(creds);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({
      AccessKeyId: creds.accessKeyId,
      SecretAccessKey: creds.secretAccessKey,
      Token: creds.sessionToken,
      Expiration: new Date(creds.expiresAt).toISOString(),
      AccountId: '123456789012',
    }));
  });
  return { url: await listen(server), issued, refused, close: closer(server) };
}
