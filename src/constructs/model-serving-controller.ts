import { ApiObject, Duration } from 'cdk8s';
import { ContainerResources, k8s } from 'cdk8s-plus-33';
import { Construct } from 'constructs';
import * as contract from '../contract';
import { controllerRbacRules } from '../render/controller/controller-rbac';
import { customResourceDefinitions } from '../render/controller/custom-resource-definitions';
import { assertDns1123Label } from '../render/resolve/names';
import { cpuMillis, sizeBytes, sizeToQuantity } from '../render/resolve/quantities';

/** cert-manager's annotation that injects the CA of a Certificate into a webhook configuration's caBundle. */
const INJECT_CA_ANNOTATION = 'cert-manager.io/inject-ca-from';
const CERT_MANAGER_API = 'cert-manager.io/v1';
const WEBHOOK_SERVICE_PORT = 443;
const API_ACCESS_VOLUME = 'kube-api-access';
const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** The image's unprivileged user (non-root, as Pod Security "restricted" requires). */
const CONTROLLER_USER = 65532;

/** How the webhooks' serving certificate is made (`ModelServingControllerProps.tls`). */
export enum WebhookCertificateMode {
  /** The controller makes a self-signed CA, rotates it, and patches `caBundle` into its webhook configurations. */
  SELF_SIGNED = 'self-signed',
  /** cert-manager issues the certificate (a `Certificate`) and injects its CA (`cert-manager.io/inject-ca-from`). */
  CERT_MANAGER = 'cert-manager',
}

/**
 * Properties of a `ModelServingController`.
 */
export interface ModelServingControllerProps {
  /**
   * The namespace the controller runs in: its Deployment, Lease, TLS Secret and webhook Service.
   *
   * @default 'cdk8s-model-serving-system'
   */
  readonly namespace?: string;

  /**
   * Whether to synthesize the `Namespace` (labelled to enforce Pod Security "restricted").
   *
   * @default true
   */
  readonly createNamespace?: boolean;

  /**
   * The image of the controller: the model-server image, which also ships the
   * `cdk8s-model-serving controller` command.
   *
   * @default - the model-server image released with this library
   */
  readonly image?: string;

  /**
   * Replicas of the controller; one holds the leader Lease and reconciles, the others stand by
   * and serve the webhooks.
   *
   * @default 2
   */
  readonly replicas?: number;

  /**
   * CPU and memory of the controller container.
   *
   * @default - requests 100m CPU and 128Mi memory; limits 1 CPU and 512Mi memory
   */
  readonly resources?: ContainerResources;

  /**
   * Only reconcile custom resources in this namespace.
   *
   * @default - every namespace
   */
  readonly watchNamespace?: string;

  /**
   * Whether the controller serves the admission webhooks: the validating webhook of the three
   * kinds (the constructs' synth-time checks at `kubectl apply`) and the pod webhook (storage
   * initializer injection). Without them, a bad custom resource is stored and gets `Ready=False`.
   *
   * @default true
   */
  readonly webhooks?: boolean;

  /**
   * How the webhooks' certificate is made. `CERT_MANAGER` needs cert-manager in the cluster.
   *
   * @default WebhookCertificateMode.SELF_SIGNED
   */
  readonly certificateMode?: WebhookCertificateMode;

  /**
   * The cert-manager issuer of the webhook certificate, as `Issuer` (in the controller's
   * namespace) or `ClusterIssuer` name. Only with `WebhookCertificateMode.CERT_MANAGER`.
   *
   * @default - a self-signed `Issuer` made for the controller
   */
  readonly certManagerIssuer?: string;

  /**
   * Whether `certManagerIssuer` names a `ClusterIssuer`.
   *
   * @default false
   */
  readonly certManagerClusterIssuer?: boolean;

  /**
   * The image of the storage-initializer init container the pod webhook injects.
   *
   * @default - the controller's image
   */
  readonly storageInitializerImage?: string;

  /**
   * How often every custom resource is reconciled even when nothing changed.
   *
   * @default Duration.minutes(5)
   */
  readonly resyncPeriod?: Duration;

  /**
   * The Prometheus HTTP API that `CanaryRollout` analyses query (e.g.
   * `http://prometheus-operated.monitoring:9090`), passed as `--prometheus-url`.
   *
   * @default - none: CanaryRollout analyses pause (Prometheus unreachable) until it is set
   */
  readonly prometheusUrl?: string;

  /**
   * How long the API server waits for a webhook answer before applying the failure policy.
   *
   * @default Duration.seconds(5)
   */
  readonly webhookTimeout?: Duration;

  /**
   * Whether to synthesize a `PodMonitor` for the controller's `/metrics` (needs the Prometheus
   * operator's CRDs).
   *
   * @default true
   */
  readonly monitoring?: boolean;

  /**
   * The namespace Prometheus runs in: the NetworkPolicy admits it to the metrics port.
   *
   * @default 'monitoring'
   */
  readonly prometheusNamespace?: string;

  /**
   * Labels added to the `PodMonitor`, for the Prometheus operator's `podMonitorSelector`.
   *
   * @default - only the controller's own labels
   */
  readonly prometheusLabels?: { [key: string]: string };
}

/**
 * The cdk8s-model-serving controller, installed: the `ModelEndpoint`, `CanaryRollout` and
 * `ModelMesh` custom resources, and the controller that reconciles them with this library's
 * constructs and serves their validating webhook and the pod webhook (storage initializer).
 *
 * Synthesizes a `Namespace` (Pod Security "restricted" enforced), the three
 * `CustomResourceDefinition`s (spec schema generated from the construct props), a
 * `ServiceAccount`, least-privilege RBAC (a `ClusterRole` for the kinds the constructs render
 * and the custom resources, a `Role` for its Lease and TLS Secret in its own namespace), a
 * `Deployment` (id `Resource`; 2 replicas with leader election), the webhook `Service`, a
 * `ValidatingWebhookConfiguration` for the three kinds, a `MutatingWebhookConfiguration` for
 * labelled Pods, a `PodDisruptionBudget`, a `NetworkPolicy` and a `PodMonitor`; with
 * cert-manager, a `Certificate` (and a self-signed `Issuer` unless one is named).
 *
 * @example
 * new ModelServingController(chart, 'Controller');
 */
export class ModelServingController extends Construct {
  /** The namespace the controller runs in. */
  public readonly namespace: string;
  /** The ServiceAccount the controller runs as. */
  public readonly serviceAccountName: string;

  constructor(scope: Construct, id: string, props: ModelServingControllerProps = {}) {
    super(scope, id);
    const names = contract.CONTROLLER_DEFAULTS;
    this.namespace = props.namespace ?? names.namespace;
    assertDns1123Label('namespace', this.namespace);
    this.serviceAccountName = names.name;
    const replicas = props.replicas ?? 2;
    if (!Number.isInteger(replicas) || replicas < 1) throw new Error(`'replicas' must be a positive integer, got ${replicas}`);
    if (props.watchNamespace !== undefined) assertDns1123Label('watchNamespace', props.watchNamespace);
    const prometheusNamespace = props.prometheusNamespace ?? 'monitoring';
    assertDns1123Label('prometheusNamespace', prometheusNamespace);
    const webhooks = props.webhooks ?? true;
    if (!webhooks && (props.certificateMode !== undefined || props.webhookTimeout !== undefined)) {
      throw new Error("'certificateMode' and 'webhookTimeout' configure the webhooks, but 'webhooks' is false");
    }
    const mode = props.certificateMode ?? WebhookCertificateMode.SELF_SIGNED;
    if (mode !== WebhookCertificateMode.CERT_MANAGER && (props.certManagerIssuer !== undefined || props.certManagerClusterIssuer !== undefined)) {
      throw new Error("'certManagerIssuer' and 'certManagerClusterIssuer' need 'certificateMode: WebhookCertificateMode.CERT_MANAGER'");
    }
    if (props.certManagerClusterIssuer && props.certManagerIssuer === undefined) {
      throw new Error("'certManagerClusterIssuer' needs 'certManagerIssuer', the ClusterIssuer's name");
    }
    const resyncSeconds = wholeSeconds('resyncPeriod', props.resyncPeriod ?? Duration.minutes(5), 0);
    const timeoutSeconds = wholeSeconds('webhookTimeout', props.webhookTimeout ?? Duration.seconds(5), 1);
    if (timeoutSeconds > 30) throw new Error(`'webhookTimeout' must be at most 30 seconds (the API server's limit), got ${timeoutSeconds}`);
    const image = props.image ?? contract.DEFAULT_SERVER_IMAGE;

    const selector = { [contract.LABELS.name]: names.name, [contract.LABELS.component]: 'controller' };
    const labels = { ...selector, [contract.LABELS.partOf]: contract.PART_OF, [contract.LABELS.managedBy]: contract.MANAGED_BY };
    const meta = (name: string, extra: { [k: string]: unknown } = {}) => ({ name, namespace: this.namespace, labels, ...extra });
    const clusterMeta = (name: string, extra: { [k: string]: unknown } = {}) => ({ name, labels, ...extra });

    if (props.createNamespace ?? true) {
      new k8s.KubeNamespace(this, 'Namespace', {
        metadata: {
          name: this.namespace,
          labels: { ...labels, 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' },
        },
      });
    }

    // The custom resources (parents of the controller's applyset inventory).
    for (const crd of customResourceDefinitions(labels)) {
      new ApiObject(this, `${(crd.spec as any).names.kind}Definition`, crd as any);
    }

    new k8s.KubeServiceAccount(this, 'ServiceAccount', { metadata: meta(this.serviceAccountName) });
    const rbac = controllerRbacRules({
      validatingWebhookConfiguration: names.validatingWebhookConfiguration,
      mutatingWebhookConfiguration: names.mutatingWebhookConfiguration,
      leaseName: names.leaseName,
      tlsSecret: names.tlsSecret,
      writesTlsSecret: mode === WebhookCertificateMode.SELF_SIGNED,
      webhooks,
    });
    const subjects = [{ kind: 'ServiceAccount', name: this.serviceAccountName, namespace: this.namespace }];
    new k8s.KubeClusterRole(this, 'ClusterRole', { metadata: clusterMeta(names.name), rules: rbac.cluster });
    new k8s.KubeClusterRoleBinding(this, 'ClusterRoleBinding', {
      metadata: clusterMeta(names.name),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: names.name },
      subjects,
    });
    new k8s.KubeRole(this, 'Role', { metadata: meta(names.name), rules: rbac.namespaced });
    new k8s.KubeRoleBinding(this, 'RoleBinding', {
      metadata: meta(names.name),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: names.name },
      subjects,
    });

    const f = contract.CONTROLLER_FLAGS;
    const args = [
      `${f.metricsPort}=${contract.CONTROLLER_PORTS.metrics}`,
      `${f.webhookPort}=${contract.CONTROLLER_PORTS.webhook}`,
      `${f.leaderElect}=true`,
      `${f.leaseName}=${names.leaseName}`,
      `${f.webhookCertMode}=${webhooks ? mode : contract.WEBHOOK_CERT_MODES.none}`,
      `${f.webhookService}=${names.webhookService}`,
      `${f.tlsSecret}=${names.tlsSecret}`,
      `${f.validatingWebhookConfiguration}=${names.validatingWebhookConfiguration}`,
      `${f.mutatingWebhookConfiguration}=${names.mutatingWebhookConfiguration}`,
      `${f.storageInitializerImage}=${props.storageInitializerImage ?? image}`,
      `${f.resyncSeconds}=${resyncSeconds}`,
      ...(props.watchNamespace !== undefined ? [`${f.watchNamespace}=${props.watchNamespace}`] : []),
      ...(props.prometheusUrl !== undefined ? [`${contract.CONTROLLER_ANALYSIS_FLAGS.prometheusUrl}=${httpUrl('prometheusUrl', props.prometheusUrl)}`] : []),
    ];
    const e = contract.CONTROLLER_ENV;
    const resources = controllerResources(props.resources);
    new k8s.KubeDeployment(this, 'Resource', {
      metadata: meta(names.name),
      spec: {
        replicas,
        selector: { matchLabels: selector },
        // Keep one replica serving the webhooks while the other rolls.
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: k8s.IntOrString.fromNumber(0), maxSurge: k8s.IntOrString.fromNumber(1) } },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: this.serviceAccountName,
            // The API credentials are mounted explicitly (below), as a short-lived projected token.
            automountServiceAccountToken: false,
            securityContext: { runAsNonRoot: true, runAsUser: CONTROLLER_USER, runAsGroup: CONTROLLER_USER, fsGroup: CONTROLLER_USER, seccompProfile: { type: 'RuntimeDefault' } },
            // Spread the replicas so one node's loss leaves the webhooks served.
            topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: selector } }],
            terminationGracePeriodSeconds: 30,
            containers: [{
              name: 'controller',
              image,
              imagePullPolicy: 'IfNotPresent',
              command: ['node', '/app/assets/tool/cli.js', contract.TOOL_COMMANDS.controller],
              args,
              env: [
                { name: e.namespace, valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                { name: e.podName, valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
              ],
              ports: [
                { name: 'metrics', containerPort: contract.CONTROLLER_PORTS.metrics, protocol: 'TCP' },
                { name: 'webhook', containerPort: contract.CONTROLLER_PORTS.webhook, protocol: 'TCP' },
              ],
              livenessProbe: { httpGet: { path: contract.CONTROLLER_PATHS.healthz, port: k8s.IntOrString.fromString('metrics') }, periodSeconds: 10, failureThreshold: 3 },
              readinessProbe: { httpGet: { path: contract.CONTROLLER_PATHS.readyz, port: k8s.IntOrString.fromString('metrics') }, periodSeconds: 5, failureThreshold: 2 },
              resources,
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                runAsNonRoot: true,
                capabilities: { drop: ['ALL'] },
                seccompProfile: { type: 'RuntimeDefault' },
              },
              volumeMounts: [
                { name: 'tmp', mountPath: '/tmp' },
                { name: API_ACCESS_VOLUME, mountPath: SERVICE_ACCOUNT_DIR, readOnly: true },
              ],
            }],
            volumes: [
              { name: 'tmp', emptyDir: { sizeLimit: k8s.Quantity.fromString('64Mi') } },
              // What automounting would give (token, CA, namespace), where in-cluster clients look for it.
              {
                name: API_ACCESS_VOLUME,
                projected: {
                  sources: [
                    { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } },
                    { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
                    { downwardApi: { items: [{ path: 'namespace', fieldRef: { fieldPath: 'metadata.namespace' } }] } },
                  ],
                },
              },
            ],
          },
        },
      },
    });

    if (webhooks) {
      new k8s.KubeService(this, 'WebhookService', {
        metadata: meta(names.webhookService),
        spec: {
          type: 'ClusterIP',
          selector,
          ports: [{ name: 'webhook', port: WEBHOOK_SERVICE_PORT, targetPort: k8s.IntOrString.fromString('webhook'), protocol: 'TCP' }],
        },
      });

      const certificateName = names.webhookService;
      const injectCa = mode === WebhookCertificateMode.CERT_MANAGER
        ? { annotations: { [INJECT_CA_ANNOTATION]: `${this.namespace}/${certificateName}` } }
        : {};
      const clientConfig = (path: string) => ({
        service: { name: names.webhookService, namespace: this.namespace, path, port: WEBHOOK_SERVICE_PORT },
      });
      // Our own kinds: Fail, so a CR the constructs refuse is never stored (only our three kinds
      // wait on the controller; the CRD schema still checks them while it is down).
      new k8s.KubeValidatingWebhookConfiguration(this, 'ValidatingWebhookConfiguration', {
        metadata: clusterMeta(names.validatingWebhookConfiguration, injectCa),
        webhooks: [{
          name: `validate.${contract.CRD_GROUP}`,
          admissionReviewVersions: ['v1'],
          sideEffects: 'None',
          failurePolicy: 'Fail',
          matchPolicy: 'Equivalent',
          timeoutSeconds,
          clientConfig: clientConfig(contract.CONTROLLER_PATHS.validate),
          rules: [{
            apiGroups: [contract.CRD_GROUP],
            apiVersions: [contract.CRD_VERSION],
            operations: ['CREATE', 'UPDATE'],
            resources: Object.values(contract.CRD_KINDS).map(k => k.plural),
            scope: 'Namespaced',
          }],
        }],
      });
      // Pods: only labelled pods outside kube-system and the controller's namespace are sent, so a
      // controller outage never blocks any other pod, and the controller never gates its own pods.
      // Fail for the labelled ones (ctl-webhook): they run custom containers that cannot fetch their
      // model, so admitted without the init container they would crash-loop until deleted; refused,
      // their ReplicaSet retries with backoff and they start once the controller is back.
      new k8s.KubeMutatingWebhookConfiguration(this, 'MutatingWebhookConfiguration', {
        metadata: clusterMeta(names.mutatingWebhookConfiguration, injectCa),
        webhooks: [{
          name: `pods.${contract.CRD_GROUP}`,
          admissionReviewVersions: ['v1'],
          sideEffects: 'None',
          failurePolicy: 'Fail',
          matchPolicy: 'Equivalent',
          reinvocationPolicy: 'Never',
          timeoutSeconds,
          clientConfig: clientConfig(contract.CONTROLLER_PATHS.mutatePods),
          objectSelector: { matchLabels: { [contract.POD_INJECTION.label]: 'true' } },
          namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', this.namespace] }] },
          rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' }],
        }],
      });

      if (mode === WebhookCertificateMode.CERT_MANAGER) {
        const issuer = props.certManagerIssuer ?? `${names.name}-selfsigned`;
        if (props.certManagerIssuer === undefined) {
          new ApiObject(this, 'Issuer', { apiVersion: CERT_MANAGER_API, kind: 'Issuer', metadata: meta(issuer), spec: { selfSigned: {} } });
        }
        const service = names.webhookService;
        new ApiObject(this, 'Certificate', {
          apiVersion: CERT_MANAGER_API,
          kind: 'Certificate',
          metadata: meta(certificateName),
          spec: {
            secretName: names.tlsSecret,
            dnsNames: [service, `${service}.${this.namespace}`, `${service}.${this.namespace}.svc`, `${service}.${this.namespace}.svc.cluster.local`],
            issuerRef: { group: 'cert-manager.io', kind: props.certManagerClusterIssuer ? 'ClusterIssuer' : 'Issuer', name: issuer },
            privateKey: { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Always' },
            usages: ['server auth', 'digital signature', 'key encipherment'],
          },
        });
      }
    }

    if (replicas > 1) {
      new k8s.KubePodDisruptionBudget(this, 'PodDisruptionBudget', {
        metadata: meta(names.name),
        spec: { minAvailable: k8s.IntOrString.fromNumber(1), selector: { matchLabels: selector } },
      });
    }

    // Ingress only to the webhook port (from the API server, whose address the policy cannot
    // name) and to the metrics port from Prometheus; the probes come from the kubelet.
    new k8s.KubeNetworkPolicy(this, 'NetworkPolicy', {
      metadata: meta(names.name),
      spec: {
        podSelector: { matchLabels: selector },
        policyTypes: ['Ingress'],
        ingress: [
          ...(webhooks ? [{ ports: [{ protocol: 'TCP', port: k8s.IntOrString.fromNumber(contract.CONTROLLER_PORTS.webhook) }] }] : []),
          {
            from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': prometheusNamespace } } }],
            ports: [{ protocol: 'TCP', port: k8s.IntOrString.fromNumber(contract.CONTROLLER_PORTS.metrics) }],
          },
        ],
      },
    });

    if (props.monitoring ?? true) {
      new ApiObject(this, 'PodMonitor', {
        apiVersion: 'monitoring.coreos.com/v1',
        kind: 'PodMonitor',
        metadata: { ...meta(names.name), labels: { ...labels, ...(props.prometheusLabels ?? {}) } },
        spec: {
          selector: { matchLabels: selector },
          podMetricsEndpoints: [{ port: 'metrics', path: contract.CONTROLLER_PATHS.metrics, interval: '30s' }],
        },
      });
    }
  }
}

function wholeSeconds(prop: string, d: Duration, min: number): number {
  const ms = d.toMilliseconds();
  if (ms % 1000 !== 0 || ms < min * 1000) throw new Error(`'${prop}' must be a whole number of seconds, at least ${min}, got ${ms} ms`);
  return ms / 1000;
}

function controllerResources(r: ContainerResources | undefined): k8s.ResourceRequirements {
  const cpuRequest = r?.cpu?.request?.amount ?? '100m';
  const cpuLimit = r?.cpu?.limit?.amount ?? '1';
  const memRequest = r?.memory?.request ? sizeToQuantity(r.memory.request) : '128Mi';
  const memLimit = r?.memory?.limit ? sizeToQuantity(r.memory.limit) : '512Mi';
  if (r?.cpu?.request && r?.cpu?.limit && cpuMillis(r.cpu.limit) < cpuMillis(r.cpu.request)) {
    throw new Error(`'resources.cpu.limit' (${cpuLimit}) must not be below 'resources.cpu.request' (${cpuRequest})`);
  }
  if (r?.memory?.request && r?.memory?.limit && sizeBytes(r.memory.limit) < sizeBytes(r.memory.request)) {
    throw new Error(`'resources.memory.limit' (${memLimit}) must not be below 'resources.memory.request' (${memRequest})`);
  }
  return {
    requests: { cpu: k8s.Quantity.fromString(cpuRequest), memory: k8s.Quantity.fromString(memRequest) },
    limits: { cpu: k8s.Quantity.fromString(cpuLimit), memory: k8s.Quantity.fromString(memLimit) },
  };
}

/** `url`, or a synth-time error naming `prop` unless it is an absolute http(s) URL. */
function httpUrl(prop: string, url: string): string {
  if (!/^https?:\/\/[^\s/]+/.test(url)) throw new Error(`'${prop}' must be an absolute http:// or https:// URL, got '${url}'`);
  return url;
}
