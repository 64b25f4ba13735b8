/** The webhook's flags of `cdk8s-model-serving controller` (src/controller/config.ts, the ctl-webhook block). */
import { CONTROLLER_WEBHOOK_DEFAULTS, CONTROLLER_WEBHOOK_ENV } from '../../../src/contract';
import { parseControllerConfig } from '../../../src/controller/config';

test('defaults: no extra certificate hosts, the API for cert-manager, 7 MiB bodies, 10 s requests, a one-year certificate', () => {
  expect(parseControllerConfig([], {})).toMatchObject({
    webhookCertHosts: [],
    webhookCertDir: undefined,
    webhookMaxBodyBytes: CONTROLLER_WEBHOOK_DEFAULTS.maxBodyBytes,
    webhookRequestTimeoutSeconds: 10,
    webhookCertValidityMs: 365 * 86_400_000,
  });
});

test('flags and env: comma-separated certificate hosts, the mounted directory, the bounds, the TEST-ONLY validity', () => {
  const c = parseControllerConfig(['--webhook-cert-hosts', '127.0.0.1, dev.example.com', '--webhook-max-body-bytes', '65536'], {
    WEBHOOK_CERT_DIR: '/tls', WEBHOOK_REQUEST_TIMEOUT_SECONDS: '3', [CONTROLLER_WEBHOOK_ENV.testOnlyCertValiditySeconds]: '30',
  });
  expect(c).toMatchObject({
    webhookCertHosts: ['127.0.0.1', 'dev.example.com'],
    webhookCertDir: '/tls',
    webhookMaxBodyBytes: 65_536,
    webhookRequestTimeoutSeconds: 3,
    webhookCertValidityMs: 30_000,
  });
});

test.each([
  [['--webhook-max-body-bytes', '10'], {}, "--webhook-max-body-bytes must be an integer between 1024 and 67108864, got '10'"],
  [[], { WEBHOOK_REQUEST_TIMEOUT_SECONDS: '0' }, "WEBHOOK_REQUEST_TIMEOUT_SECONDS (for --webhook-request-timeout-seconds) must be an integer between 1 and 300, got '0'"],
  [[], { [CONTROLLER_WEBHOOK_ENV.testOnlyCertValiditySeconds]: '2' }, `${CONTROLLER_WEBHOOK_ENV.testOnlyCertValiditySeconds} (test only) must be a whole number of seconds, at least 6, got '2'`],
])('fails on %j %j with a message naming the flag or variable', (argv, env, message) => {
  expect(() => parseControllerConfig(argv, env)).toThrow(message);
});
