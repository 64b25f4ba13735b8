/**
 * `cdk8s-model-serving controller` flags and environment (src/controller/config.ts): every flag of
 * the contract is parsed and documented, bad values are errors that name the flag or variable.
 */
import {
  CONTROLLER_ANALYSIS_ENV, CONTROLLER_ANALYSIS_FLAGS, CONTROLLER_CORE_ENV, CONTROLLER_CORE_FLAGS, CONTROLLER_DEFAULTS, CONTROLLER_ENV,
  CONTROLLER_FLAGS, CONTROLLER_WEBHOOK_ENV, CONTROLLER_WEBHOOK_FLAGS,
} from '../../../src/contract';
import { CONTROLLER_HELP, controllerHelp, parseControllerConfig } from '../../../src/controller/config';

describe('controller configuration', () => {
  test('defaults: in-cluster, every namespace, leader election on, the contract\'s names', () => {
    const c = parseControllerConfig([], {});
    expect(c).toMatchObject({
      kubeconfig: undefined,
      namespace: CONTROLLER_DEFAULTS.namespace,
      watchNamespace: '',
      metricsPort: 8080,
      webhookPort: 9443,
      leaderElect: true,
      leaseName: CONTROLLER_DEFAULTS.leaseName,
      leaseDurationSeconds: 15,
      renewDeadlineSeconds: 10,
      retryPeriodSeconds: 2,
      webhookCertMode: 'self-signed',
      resyncSeconds: 300,
      workers: 4,
      logLevel: 'info',
    });
  });

  test('flags (both spellings) win over environment variables, which win over defaults', () => {
    const c = parseControllerConfig(['--kubeconfig', '/k', '--workers=8', '--leader-elect', 'false'], { KUBECONFIG: '/env', WORKERS: '2', RESYNC_SECONDS: '0', POD_NAME: 'p-1' });
    expect(c).toMatchObject({ kubeconfig: '/k', workers: 8, leaderElect: false, resyncSeconds: 0, podName: 'p-1' });
  });

  test('every flag in the contract has help text and a parser; the help names each flag and its variable', () => {
    const flags = { ...CONTROLLER_FLAGS, ...CONTROLLER_CORE_FLAGS, ...CONTROLLER_WEBHOOK_FLAGS, ...CONTROLLER_ANALYSIS_FLAGS };
    const envs: Record<string, string> = { ...CONTROLLER_ENV, ...CONTROLLER_CORE_ENV, ...CONTROLLER_WEBHOOK_ENV, ...CONTROLLER_ANALYSIS_ENV };
    const keys = Object.keys(flags).sort();
    expect(CONTROLLER_HELP.map(([k]) => k).sort()).toEqual(keys);
    const help = controllerHelp();
    for (const [key, flag] of Object.entries(flags)) {
      expect(help).toContain(flag);
      const env = envs[key];
      if (env) expect(help).toContain(`env ${env}`);
    }
  });

  test.each([
    [['--workers', '0'], {}, "--workers must be an integer between 1 and 64, got '0'"],
    [['--prometheus-url', 'prometheus:9090'], {}, "--prometheus-url must be an http:// or https:// URL, got 'prometheus:9090'"],
    [[], { PROMETHEUS_URL: 'not a url' }, "PROMETHEUS_URL (for --prometheus-url) must be an http:// or https:// URL, got 'not a url'"],
    [['--metrics-port', 'http'], {}, "--metrics-port must be an integer between 0 and 65535, got 'http'"],
    [[], { LEADER_ELECT: 'yes' }, "LEADER_ELECT (for --leader-elect) must be one of true, false, got 'yes'"],
    [['--webhook-cert-mode', 'acme'], {}, "--webhook-cert-mode must be one of self-signed, cert-manager, none, got 'acme'"],
    [['--watch-namespace', 'Prod'], {}, "--watch-namespace must be a namespace name (DNS-1123 label) or empty for every namespace, got 'Prod'"],
    [['--lease-name', 'Bad_Name'], {}, "--lease-name must be a Kubernetes object name (lowercase letters, digits, '-' and '.'), got 'Bad_Name'"],
    [['--renew-deadline-seconds', '20'], {}, '--renew-deadline-seconds must be less than --lease-duration-seconds (15), got 20'],
    [['--retry-period-seconds', '0.5', '--renew-deadline-seconds', '0.4', '--lease-duration-seconds', '1'], {}, '--retry-period-seconds must be less than --renew-deadline-seconds (0.4), got 0.5'],
    [['--log-level', 'trace'], {}, "--log-level must be one of debug, info, warn, error, got 'trace'"],
    [['--resync'], {}, "unknown flag '--resync' (see cdk8s-model-serving controller --help)"],
    [['--namespace'], {}, '--namespace needs a value'],
  ])('fails on %j %j with a message naming the flag', (argv, env, message) => {
    expect(() => parseControllerConfig(argv, env)).toThrow(message);
  });

  test('sub-second lease timings are accepted (tests use them), leader election off skips the timing rules', () => {
    expect(parseControllerConfig(['--lease-duration-seconds', '2', '--renew-deadline-seconds', '1.5', '--retry-period-seconds', '0.2'], {}).retryPeriodSeconds).toBe(0.2);
    expect(parseControllerConfig(['--leader-elect', 'false', '--renew-deadline-seconds', '30'], {}).leaderElect).toBe(false);
    const url = parseControllerConfig(['--prometheus-url', 'http://prometheus.monitoring:9090/'], {}).prometheusUrl;
    expect(url).toBe('http://prometheus.monitoring:9090');
    expect(parseControllerConfig([], {}).prometheusUrl).toBeUndefined();
  });
});
