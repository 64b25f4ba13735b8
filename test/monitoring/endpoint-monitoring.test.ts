import { ApiObject, Duration, JsonPatch } from 'cdk8s';
import { synthEndpoint } from './tools';
import { DeploymentMode, InferenceProtocol, StorageUri } from '../../src';
import { allExpressions } from '../../src/_monitoring/queries';
import { findByKind, findOne } from '../util';
import { expectValidManifests } from '../validation';

const MONITORING_KINDS = ['ConfigMap', 'PodMonitor', 'PrometheusRule', 'ServiceMonitor'];

function monitoringObjects(manifests: any[]) {
  return manifests.filter(m => MONITORING_KINDS.includes(m.kind));
}

function dashboardJson(manifests: any[]) {
  const cm = findOne(manifests, 'ConfigMap');
  return JSON.parse(cm.data[Object.keys(cm.data)[0]]);
}

describe('serverless endpoint', () => {
  test('defaults: a PodMonitor, a PrometheusRule and a dashboard ConfigMap, all schema-valid', () => {
    // GIVEN / WHEN
    const { manifests } = synthEndpoint();

    // THEN
    expectValidManifests(manifests);
    expect(monitoringObjects(manifests).map(m => `${m.apiVersion}/${m.kind}`).sort()).toEqual([
      'monitoring.coreos.com/v1/PodMonitor',
      'monitoring.coreos.com/v1/PrometheusRule',
      'v1/ConfigMap',
    ]);
    expect(monitoringObjects(manifests)).toMatchSnapshot();
  });

  test('the PodMonitor selects the predictor pods by our labels and scrapes /metrics on Knative\'s user-port every 30s', () => {
    const { manifests } = synthEndpoint();
    const pm = findOne(manifests, 'PodMonitor');
    expect(pm.metadata.namespace).toBe('ml');
    expect(pm.spec.selector).toEqual({ matchLabels: { 'serving.cdk8s-model-serving.io/endpoint': 'iris', 'app.kubernetes.io/component': 'predictor' } });
    const ep = pm.spec.podMetricsEndpoints[0];
    expect(ep).toMatchObject({ port: 'user-port', path: '/metrics', interval: '30s' });
    // The Knative revision template carries every label the selector needs.
    const podLabels = findOne(manifests, 'Service', { apiVersion: 'serving.knative.dev/v1' }).spec.template.metadata.labels;
    expect(podLabels).toMatchObject(pm.spec.selector.matchLabels);
  });

  test('relabelings write endpoint, component, revision and track (stable unless the pod says canary)', () => {
    const { manifests } = synthEndpoint();
    const relabelings = findOne(manifests, 'PodMonitor').spec.podMetricsEndpoints[0].relabelings;
    expect(relabelings.map((r: any) => r.targetLabel)).toEqual(['endpoint', 'component', 'track', 'track', 'revision']);
    expect(relabelings[2]).toEqual({ action: 'replace', replacement: 'stable', targetLabel: 'track' });
    expect(relabelings[3]).toEqual({
      action: 'replace',
      sourceLabels: ['__meta_kubernetes_pod_label_serving_cdk8s_model_serving_io_track'],
      regex: '(.+)',
      targetLabel: 'track',
    });
  });

  test('gRPC: the scrape address is rewritten to the HTTP port, which Knative does not declare', () => {
    const { manifests } = synthEndpoint({ protocol: InferenceProtocol.GRPC_V2 });
    expectValidManifests(manifests);
    const relabelings = findOne(manifests, 'PodMonitor').spec.podMetricsEndpoints[0].relabelings;
    expect(relabelings.filter((r: any) => r.targetLabel === '__address__')).toEqual([
      { action: 'replace', sourceLabels: ['__meta_kubernetes_pod_ip'], regex: '([^:]+)', replacement: '$1:8080', targetLabel: '__address__' },
      { action: 'replace', sourceLabels: ['__meta_kubernetes_pod_ip'], regex: '(.+:.+)', replacement: '[$1]:8080', targetLabel: '__address__' },
    ]);
  });

  test('no-ready-replicas is up-based, and left out for scale-to-zero endpoints', () => {
    const rules = (m: any[]) => findOne(m, 'PrometheusRule').spec.groups[0].rules;
    const noReady = rules(synthEndpoint().manifests).find((r: any) => r.alert === 'ModelEndpointNoReadyReplicas');
    expect(noReady.expr).toBe('absent(up{endpoint="iris",namespace="ml",component="predictor"} == 1)');
    expect(rules(synthEndpoint({ minReplicas: 0 }).manifests).map((r: any) => r.alert)).not.toContain('ModelEndpointNoReadyReplicas');
  });

  test('the NetworkPolicy admits the Prometheus namespace to the metrics port only', () => {
    const { manifests } = synthEndpoint({ monitoring: { prometheusNamespace: 'prom' } });
    const np = findOne(manifests, 'NetworkPolicy');
    expect(np.spec.ingress).toHaveLength(2);
    expect(np.spec.ingress[1]).toEqual({
      from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'prom' } } }],
      ports: [{ protocol: 'TCP', port: 8080 }],
    });
  });
});

describe('raw endpoint', () => {
  test('a ServiceMonitor on the Service\'s http port, whose target is the metrics port', () => {
    const { manifests } = synthEndpoint({}, DeploymentMode.RAW);
    expectValidManifests(manifests);
    expect(findByKind(manifests, 'PodMonitor')).toHaveLength(0);
    const sm = findOne(manifests, 'ServiceMonitor');
    const ep = sm.spec.endpoints[0];
    expect(ep).toMatchObject({ port: 'http', path: '/metrics', interval: '30s' });
    expect(ep.relabelings.map((r: any) => r.targetLabel)).toEqual(['endpoint', 'component', 'track', 'track']);
    const svc = findOne(manifests, 'Service', { apiVersion: 'v1' });
    expect(svc.metadata.labels).toMatchObject(sm.spec.selector.matchLabels);
    expect(svc.spec.ports.find((p: any) => p.name === 'http').targetPort).toBe(8080);
    expect(monitoringObjects(manifests)).toMatchSnapshot();
  });

  test('no-ready-replicas reads kube-state-metrics, and is left out for a stopped endpoint', () => {
    const rules = (m: any[]) => findOne(m, 'PrometheusRule').spec.groups[0].rules;
    const noReady = rules(synthEndpoint({}, DeploymentMode.RAW).manifests).find((r: any) => r.alert === 'ModelEndpointNoReadyReplicas');
    expect(noReady.expr).toBe('sum(kube_deployment_status_replicas_available{namespace="ml",deployment="iris"}) < 1');
    expect(rules(synthEndpoint({ stopped: true }, DeploymentMode.RAW).manifests).map((r: any) => r.alert)).not.toContain('ModelEndpointNoReadyReplicas');
  });
});

describe('options', () => {
  test('full: every option set', () => {
    const { manifests } = synthEndpoint({
      monitoring: {
        scrapeInterval: Duration.seconds(15),
        prometheusLabels: { release: 'kube-prometheus-stack' },
        prometheusNamespace: 'observability',
        errorRatioThreshold: 0.01,
        latencyObjective: Duration.millis(250),
        modelLoadFailureThreshold: 3,
        canaryErrorRatioMargin: 0.05,
        canaryLatencyRatio: 2,
        dashboardNamespace: 'grafana',
        dashboardFolder: 'Models',
      },
    });
    expectValidManifests(manifests);
    expect(monitoringObjects(manifests)).toMatchSnapshot();
    const pm = findOne(manifests, 'PodMonitor');
    expect(pm.metadata.labels.release).toBe('kube-prometheus-stack');
    expect(pm.spec.podMetricsEndpoints[0].interval).toBe('15s');
    const rules = findOne(manifests, 'PrometheusRule').spec.groups[0].rules;
    const expr = (alert: string) => rules.find((r: any) => r.alert === alert).expr;
    expect(expr('ModelEndpointHighErrorRatio')).toMatch(/ > 0\.01$/);
    expect(expr('ModelEndpointHighLatency')).toMatch(/ > 0\.25$/);
    expect(expr('ModelEndpointModelLoadFailures')).toMatch(/ >= 3$/);
    expect(expr('ModelEndpointCanaryErrorRatio')).toMatch(/ \+ 0\.05$/);
    expect(expr('ModelEndpointCanaryLatency')).toContain(' > 2 * histogram_quantile(');
    const cm = findOne(manifests, 'ConfigMap');
    expect(cm.metadata.namespace).toBe('grafana');
    expect(cm.metadata.annotations).toEqual({ grafana_folder: 'Models' });
  });

  test('monitoring can be turned off entirely, or alerts and dashboard one by one', () => {
    expect(monitoringObjects(synthEndpoint({ monitoring: { enabled: false } }).manifests)).toEqual([]);
    const { manifests, endpoint } = synthEndpoint({ monitoring: { alerts: false, dashboard: false } });
    expect(monitoringObjects(manifests).map(m => m.kind)).toEqual(['PodMonitor']);
    expect(endpoint.monitoring?.rule).toBeUndefined();
    expect(endpoint.monitoring?.dashboard).toBeUndefined();
  });

  test('monitoring is off by default with a custom container, and can be turned on', () => {
    const props = { container: { image: 'example.com/my-server:1' }, storageUri: StorageUri.pvc('models', 'iris') };
    const off = synthEndpoint(props, DeploymentMode.RAW);
    expect(monitoringObjects(off.manifests)).toEqual([]);
    expect(findOne(off.manifests, 'NetworkPolicy').spec.ingress).toHaveLength(1);
    const on = synthEndpoint({ ...props, monitoring: { enabled: true } }, DeploymentMode.RAW);
    expect(findOne(on.manifests, 'ServiceMonitor').spec.endpoints[0].port).toBe('http');
  });

  test('the monitor is reachable for escape-hatch patches', () => {
    const { endpoint } = synthEndpoint();
    ApiObject.of(endpoint.monitoring!.monitor).addJsonPatch(JsonPatch.add('/spec/podMetricsEndpoints/0/scrapeTimeout', '10s'));
    expect(endpoint.monitoring!.monitor.toJson().spec.podMetricsEndpoints[0].scrapeTimeout).toBe('10s');
  });

  test.each<[string, object, RegExp]>([
    ['fails on a fractional scrape interval', { scrapeInterval: Duration.millis(1500) }, /'monitoring.scrapeInterval' must be a whole number of seconds, at least 1, got 1500 ms/],
    ['fails on an error ratio above 1', { errorRatioThreshold: 5 }, /'monitoring.errorRatioThreshold' must be a fraction between 0 and 1 \(exclusive\), got 5/],
    ['fails on a canary latency ratio below 1', { canaryLatencyRatio: 0.5 }, /'monitoring.canaryLatencyRatio' must be a number of at least 1/],
    ['fails on a zero load-failure threshold', { modelLoadFailureThreshold: 0 }, /'monitoring.modelLoadFailureThreshold' must be an integer of at least 1, got 0/],
    ['fails on an invalid Prometheus namespace', { prometheusNamespace: 'Prom_NS' }, /monitoring.prometheusNamespace/],
  ])('%s', (_name, monitoring, error) => {
    expect(() => synthEndpoint({ monitoring })).toThrow(error);
  });
});

describe('queries', () => {
  test.each<[string, DeploymentMode]>([['serverless', DeploymentMode.SERVERLESS], ['raw', DeploymentMode.RAW]])(
    '%s: every dashboard and alert expression on scraped series selects the predictor\'s, so requests through a transformer count once',
    (_name, mode) => {
      const { endpoint } = synthEndpoint({}, mode);
      const exprs = allExpressions(endpoint.monitoring!._queries);
      for (const [name, expr] of Object.entries(exprs)) {
        // Every selector of a scraped series (not kube-state-metrics') names the component.
        const selectors = expr.match(/(model_server_\w+|\bup)\{[^}]*\}/g) ?? [];
        if (name !== 'replicasAvailable' && !(mode === DeploymentMode.RAW && name === 'alert:ModelEndpointNoReadyReplicas')) {
          expect([name, selectors.length]).toEqual([name, expect.any(Number)]);
          expect(selectors.length).toBeGreaterThan(0);
        }
        for (const sel of selectors) expect([name, sel]).toEqual([name, expect.stringContaining('component="predictor"')]);
      }
    },
  );
});

describe('dashboard', () => {
  test('is labelled for the Grafana sidecar and has the documented panels', () => {
    const { manifests } = synthEndpoint();
    const cm = findOne(manifests, 'ConfigMap');
    expect(cm.metadata.name).toBe('iris-dashboard');
    expect(cm.metadata.labels.grafana_dashboard).toBe('1');
    const dash = dashboardJson(manifests);
    expect(dash.uid.length).toBeLessThanOrEqual(40);
    expect(dash.panels.filter((p: any) => p.type !== 'row').map((p: any) => p.title)).toEqual([
      'Requests/s', 'Error ratio', 'p99 latency', 'Models loaded',
      'Requests/s by status code', 'Requests/s by model', 'Error ratio', 'Latency',
      'In-flight requests', 'Replicas', 'Model load time',
      'Requests/s by track', 'Error ratio by track', 'p99 latency by track',
    ]);
    const latency = dash.panels.find((p: any) => p.title === 'Latency');
    expect(latency.targets.map((t: any) => t.legendFormat)).toEqual(['p50', 'p90', 'p99']);
  });

  test('panels stay inside the 24-column grid and never overlap', () => {
    const dash = dashboardJson(synthEndpoint({}, DeploymentMode.RAW).manifests);
    const cells = new Set<string>();
    for (const p of dash.panels) {
      const { x, y, w, h } = p.gridPos;
      expect(x + w).toBeLessThanOrEqual(24);
      for (let i = x; i < x + w; i++) {
        for (let j = y; j < y + h; j++) {
          expect(cells.has(`${i},${j}`)).toBe(false);
          cells.add(`${i},${j}`);
        }
      }
    }
  });

  test('every dashboard expression comes from the endpoint\'s query module', () => {
    const { manifests, endpoint } = synthEndpoint({}, DeploymentMode.RAW);
    const known = new Set(Object.values(allExpressions(endpoint.monitoring!._queries)));
    const used = dashboardJson(manifests).panels.flatMap((p: any) => (p.targets ?? []).map((t: any) => t.expr));
    expect(used.length).toBeGreaterThan(10);
    for (const expr of used) expect(known).toContain(expr);
  });
});
