import { ApiObject, Duration, JsonPatch } from 'cdk8s';
import { DeploymentMode, InferenceProtocol, StorageUri } from '../../src';
import { allExpressions } from '../../src/render/monitoring/queries';
import { synthEndpoint, TEST_TRANSFORMER, withComponents } from '../render/monitoring/tools';
import { findByKind, findOne } from '../util';
import { expectValidManifests } from '../validation';

const MONITORING_KINDS = ['ConfigMap', 'PodMonitor', 'PrometheusRule', 'ServiceMonitor'];

/** Monitors, rules and dashboard ConfigMaps (not, say, a transformer module's ConfigMap). */
function monitoringObjects(manifests: any[]) {
  return manifests.filter(m => MONITORING_KINDS.includes(m.kind) && (m.kind !== 'ConfigMap' || m.metadata.labels?.grafana_dashboard === '1'));
}

function dashboardJson(manifests: any[]) {
  const cm = findOne(manifests, 'ConfigMap', { name: 'iris-dashboard' });
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
    ApiObject.of(endpoint.monitoring!.monitor!).addJsonPatch(JsonPatch.add('/spec/podMetricsEndpoints/0/scrapeTimeout', '10s'));
    expect(endpoint.monitoring!.monitor!.toJson().spec.podMetricsEndpoints[0].scrapeTimeout).toBe('10s');
  });

  test('a transformer\'s monitor is reachable for escape-hatch patches', () => {
    const { manifests } = synthEndpoint({}, DeploymentMode.RAW, e => {
      e.addTransformer(TEST_TRANSFORMER).monitor!.addJsonPatch(JsonPatch.add('/spec/endpoints/0/scrapeTimeout', '10s'));
    });
    expect(findOne(manifests, 'ServiceMonitor', { name: 'iris-transformer' }).spec.endpoints[0].scrapeTimeout).toBe('10s');
    expect(findOne(manifests, 'ServiceMonitor', { name: 'iris' }).spec.endpoints[0].scrapeTimeout).toBeUndefined();
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

describe('transformer and explainer', () => {
  const monitors = (m: any[]) => m.filter(o => ['PodMonitor', 'ServiceMonitor'].includes(o.kind));
  const endpointOf = (o: any) => o.kind === 'PodMonitor' ? o.spec.podMetricsEndpoints[0] : o.spec.endpoints[0];

  test('serverless: each gets a PodMonitor on its own pods, with the predictor\'s settings and relabelings', () => {
    // GIVEN an endpoint, WHEN a transformer and an explainer are added after its constructor
    const { manifests, endpoint } = synthEndpoint({ monitoring: { scrapeInterval: Duration.seconds(15), prometheusLabels: { release: 'kps' } } },
      DeploymentMode.SERVERLESS, withComponents);

    // THEN
    expectValidManifests(manifests);
    expect(monitors(manifests).map(m => `${m.kind}/${m.metadata.name}`).sort()).toEqual(['PodMonitor/iris', 'PodMonitor/iris-explainer', 'PodMonitor/iris-transformer']);
    const predictor = findOne(manifests, 'PodMonitor', { name: 'iris' });
    for (const component of ['transformer', 'explainer']) {
      const pm = findOne(manifests, 'PodMonitor', { name: `iris-${component}` });
      expect(pm.metadata).toMatchObject({ namespace: 'ml', labels: { 'release': 'kps', 'app.kubernetes.io/component': component } });
      expect(pm.spec.selector).toEqual({ matchLabels: { 'serving.cdk8s-model-serving.io/endpoint': 'iris', 'app.kubernetes.io/component': component } });
      expect(endpointOf(pm)).toEqual({ ...endpointOf(predictor), interval: '15s' });
      // The component's pods (its Knative revision template) carry the labels the selector needs.
      const pods = findOne(manifests, 'Service', { apiVersion: 'serving.knative.dev/v1', name: `iris-${component}` }).spec.template.metadata.labels;
      expect(pods).toMatchObject(pm.spec.selector.matchLabels);
      expect(predictor.spec.selector.matchLabels).not.toMatchObject(pods);
    }
    expect(endpoint.transformer!.monitor!.kind).toBe('PodMonitor');
    expect(endpoint.explainer!.monitor!.name).toBe('iris-explainer');
  });

  test('serverless gRPC endpoint: the predictor\'s scrape address is rewritten, the components\' (HTTP only) are not', () => {
    const { manifests } = synthEndpoint({ protocol: InferenceProtocol.GRPC_V2 }, DeploymentMode.SERVERLESS, withComponents);
    expectValidManifests(manifests);
    const targets = (name: string) => endpointOf(findOne(manifests, 'PodMonitor', { name })).relabelings.map((r: any) => r.targetLabel);
    expect(targets('iris')).toContain('__address__');
    expect(targets('iris-transformer')).toEqual(['endpoint', 'component', 'track', 'track', 'revision']);
    expect(targets('iris-explainer')).toEqual(['endpoint', 'component', 'track', 'track', 'revision']);
  });

  test('raw: each gets a ServiceMonitor on its Service\'s http port; every Service is selected by exactly one monitor', () => {
    const { manifests } = synthEndpoint({}, DeploymentMode.RAW, withComponents);
    expectValidManifests(manifests);
    expect(findByKind(manifests, 'PodMonitor')).toHaveLength(0);
    const serviceMonitors = findByKind(manifests, 'ServiceMonitor');
    expect(serviceMonitors.map(m => m.metadata.name).sort()).toEqual(['iris', 'iris-explainer', 'iris-transformer']);
    for (const component of ['transformer', 'explainer']) {
      const sm = findOne(manifests, 'ServiceMonitor', { name: `iris-${component}` });
      expect(sm.spec.selector).toEqual({ matchLabels: { 'serving.cdk8s-model-serving.io/endpoint': 'iris', 'app.kubernetes.io/component': component } });
      expect(endpointOf(sm)).toMatchObject({ port: 'http', path: '/metrics', interval: '30s' });
      expect(endpointOf(sm).relabelings.map((r: any) => r.targetLabel)).toEqual(['endpoint', 'component', 'track', 'track']);
      expect(endpointOf(sm).relabelings[1]).toEqual({
        action: 'replace', sourceLabels: ['__meta_kubernetes_pod_label_app_kubernetes_io_component'], regex: '(.+)', targetLabel: 'component',
      });
      // The Service's http port reaches our server's metrics port.
      const svc = findOne(manifests, 'Service', { apiVersion: 'v1', name: `iris-${component}` });
      expect(svc.spec.ports.find((p: any) => p.name === 'http').targetPort).toBe(8080);
    }
    // No pod is scraped twice: each Service matches one monitor's selector.
    const matches = (sm: any, svc: any) => Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => svc.metadata.labels?.[k] === v);
    for (const svc of findByKind(manifests, 'Service', { apiVersion: 'v1' })) {
      const selectedBy = serviceMonitors.filter(sm => matches(sm, svc)).map(sm => sm.metadata.name);
      expect([svc.metadata.name, selectedBy]).toEqual([svc.metadata.name, [svc.metadata.name]]);
    }
  });

  test('in process or in a custom container, nothing more is scraped; nor with monitoring off', () => {
    const inProcess = synthEndpoint({}, DeploymentMode.RAW, e => {
      e.addTransformer({ ...TEST_TRANSFORMER, inProcess: true });
      e.addExplainer({ inProcess: true });
    });
    expect(monitors(inProcess.manifests).map(m => m.metadata.name)).toEqual(['iris']);
    expect(inProcess.endpoint.transformer!.monitor).toBeUndefined();
    expect(inProcess.endpoint.explainer!.monitor).toBeUndefined();
    expect(inProcess.endpoint.monitoring!._queries.components).toEqual([]);

    const custom = synthEndpoint({}, DeploymentMode.SERVERLESS, e => {
      e.addTransformer({ container: { image: 'example.com/transformer:1' } });
      e.addExplainer({ container: { image: 'example.com/explainer:1' } });
    });
    expect(monitors(custom.manifests).map(m => m.metadata.name)).toEqual(['iris']);
    expect(custom.endpoint.transformer!.monitor).toBeUndefined();
    expect(findOne(custom.manifests, 'PrometheusRule').spec.groups[0].rules.map((r: any) => r.alert)).not.toContain('ModelEndpointComponentHighErrorRatio');

    const off = synthEndpoint({ monitoring: { enabled: false } }, DeploymentMode.SERVERLESS, withComponents);
    expect(monitoringObjects(off.manifests)).toEqual([]);
    expect(off.endpoint.transformer!.monitor).toBeUndefined();
  });

  test('with a custom predictor on another port, the NetworkPolicy also admits Prometheus to the components\' metrics port', () => {
    const props = { container: { image: 'example.com/my-server:1', port: 9000 }, storageUri: StorageUri.pvc('models', 'iris'), monitoring: { enabled: true } };
    const { manifests } = synthEndpoint(props, DeploymentMode.RAW, withComponents);
    expectValidManifests(manifests);
    const ports = findOne(manifests, 'NetworkPolicy').spec.ingress.slice(1).map((r: any) => [r.from[0].namespaceSelector.matchLabels['kubernetes.io/metadata.name'], r.ports]);
    expect(ports).toEqual([['monitoring', [{ protocol: 'TCP', port: 9000 }]], ['monitoring', [{ protocol: 'TCP', port: 8080 }]]]);
  });

  test('queries: each component\'s own, selecting its component; the endpoint\'s still select the predictor only', () => {
    const { endpoint } = synthEndpoint({}, DeploymentMode.RAW, withComponents);
    const q = endpoint.monitoring!._queries;
    expect(q.components.map(c => c.component)).toEqual(['transformer', 'explainer']);
    const [t, x] = q.components;
    expect(t.requestRate).toBe('sum (rate(model_server_requests_total{endpoint="iris",namespace="ml",component="transformer"}[5m]))');
    expect(t.predictorLatencyP99).toBe('histogram_quantile(0.99, sum by (le) (rate(model_server_predictor_request_duration_seconds_bucket{endpoint="iris",namespace="ml",component="transformer"}[5m])))');
    expect(t.stepLatencyP99).toBe('histogram_quantile(0.99, sum by (le, step) (rate(model_server_transformer_step_duration_seconds_bucket{endpoint="iris",namespace="ml",component="transformer"}[5m])))');
    expect(t.explanationRate).toBeUndefined();
    expect(x.explanationRate).toBe('sum by (method) (rate(model_server_explanations_total{endpoint="iris",namespace="ml",component="explainer"}[5m]))');
    expect(x.stepLatencyP99).toBeUndefined();
    expect(q.requestRate).toBe('sum (rate(model_server_requests_total{endpoint="iris",namespace="ml",component="predictor"}[5m]))');
  });

  test('alerts: one component error-ratio alert by component, with the endpoint\'s threshold, only once a component is scraped', () => {
    const rules = (m: any[]) => findOne(m, 'PrometheusRule').spec.groups[0].rules;
    expect(rules(synthEndpoint().manifests).map((r: any) => r.alert)).not.toContain('ModelEndpointComponentHighErrorRatio');
    const { manifests } = synthEndpoint({ monitoring: { errorRatioThreshold: 0.1 } }, DeploymentMode.SERVERLESS, withComponents);
    const alert = rules(manifests).find((r: any) => r.alert === 'ModelEndpointComponentHighErrorRatio');
    const sel = 'endpoint="iris",namespace="ml",component=~"transformer|explainer"';
    expect(alert.expr).toBe(`(sum by (component) (rate(model_server_requests_total{${sel},code=~"5..|2|4|13|14|15"}[5m]))`
      + ` or sum by (component) (rate(model_server_requests_total{${sel}}[5m])) * 0) / sum by (component) (rate(model_server_requests_total{${sel}}[5m])) > 0.1`);
    expect(alert).toMatchObject({ for: '5m', labels: { severity: 'critical', endpoint: 'iris', namespace: 'ml' } });
    expect(alert.annotations.summary).toBe('The {{ $labels.component }} of model endpoint iris answers too many requests with server errors');
    expect(alert.annotations.description).toContain('(threshold 0.1)');
  });

  test('dashboard: a row per component with requests, errors, latency (with predictor calls and module steps) and explanations', () => {
    const { manifests, endpoint } = synthEndpoint({}, DeploymentMode.SERVERLESS, withComponents);
    const dash = dashboardJson(manifests);
    const rows = dash.panels.filter((p: any) => p.type === 'row').map((p: any) => p.title);
    expect(rows).toEqual(['Overview', 'Traffic', 'Capacity', 'Stable vs canary', 'Transformer', 'Explainer']);
    const titles = dash.panels.filter((p: any) => p.type !== 'row').map((p: any) => p.title);
    expect(titles.slice(14)).toEqual([
      'Transformer requests/s by status code', 'Transformer error ratio', 'Transformer p99 latency',
      'Explainer requests/s by status code', 'Explainer error ratio', 'Explainer p99 latency', 'Explanations/s by method',
    ]);
    const panel = (title: string) => dash.panels.find((p: any) => p.title === title);
    const [t, x] = endpoint.monitoring!._queries.components;
    expect(panel('Transformer p99 latency').targets.map((tg: any) => [tg.legendFormat, tg.expr])).toEqual([
      ['request', t.latencyP99], ['predictor call', t.predictorLatencyP99], ['{{step}}', t.stepLatencyP99],
    ]);
    expect(panel('Explainer p99 latency').targets.map((tg: any) => tg.legendFormat)).toEqual(['request', 'predictor call']);
    expect(panel('Explanations/s by method').targets[0].expr).toBe(x.explanationRate);
    for (const p of dash.panels.filter((pp: any) => pp.title.startsWith('Transformer'))) {
      for (const tg of p.targets ?? []) expect(tg.expr).toContain('component="transformer"');
    }
  });
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
    const dash = dashboardJson(synthEndpoint({}, DeploymentMode.RAW, withComponents).manifests);
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
    const { manifests, endpoint } = synthEndpoint({}, DeploymentMode.RAW, withComponents);
    const known = new Set(Object.values(allExpressions(endpoint.monitoring!._queries)));
    const used = dashboardJson(manifests).panels.flatMap((p: any) => (p.targets ?? []).map((t: any) => t.expr));
    expect(used.length).toBeGreaterThan(10);
    for (const expr of used) expect(known).toContain(expr);
  });
});
