import { ApiObject, Chart, Duration, Lazy, Names, Size } from 'cdk8s';
import { Cpu, IServiceAccount, ISecret, k8s } from 'cdk8s-plus-33';
import { Construct, IConstruct } from 'constructs';
import * as contract from '../contract';
import { EndpointIngress, IngressKind } from './endpoint-ingress';
import { ModelFormat } from './model-format';
import { StorageAuth } from './storage-auth';
import { StorageUri } from './storage-uri';
import { VirtualService } from '../imports/istio-networking.istio.io';
import { meshPodSpec } from '../render/mesh-pod';
import { deploymentAutoscaler } from '../render/raw';
import { assertDerivedLength, assertDns1035Label, assertDns1123Label, assertDns1123Subdomain } from '../render/resolve/names';
import { cpuMillis, sizeBytes, sizeToQuantity } from '../render/resolve/quantities';
import { resolveStorageAuth } from '../render/resolve/storage-auth';
import { assertMeshRuntimeAllowed, meshFormatError } from '../render/runtime/mesh';

const PEER_SUFFIX = '-peers';
const REGISTRY_SUFFIX = '-models';
const SERVICE_HTTP_PORT = 80;
const DEFAULT_ISTIO_GATEWAY = 'istio-system/ingressgateway';

/**
 * How many members hold a model. Enum-like: `ModelCopies.count(n)` or `ModelCopies.EVERY_MEMBER`.
 */
export class ModelCopies {
  /** The model is loaded on every member (hot models; capacity counts it once per member). */
  public static readonly EVERY_MEMBER = new ModelCopies(0);

  /**
   * The model is placed on `copies` members (the minimum that hold it; others forward to them).
   *
   * @param copies a positive integer
   */
  public static count(copies: number): ModelCopies {
    if (!Number.isInteger(copies) || copies < 1) {
      throw new Error(`'ModelCopies.count' takes a positive integer, got ${copies}`);
    }
    return new ModelCopies(copies);
  }

  /** The number of copies, or 0 for every member. */
  public readonly copies: number;

  private constructor(copies: number) {
    this.copies = copies;
  }

  /** Whether the model is on every member. */
  public get everyMember(): boolean {
    return this.copies === 0;
  }
}

/**
 * A model to serve on a ModelMesh.
 */
export interface MeshModelOptions {
  /**
   * The model name clients use in `/v2/models/<name>/infer`. Must be a DNS-1123 label and
   * unique in the mesh.
   */
  readonly name: string;

  /**
   * Where the model is stored. Members fetch it on demand into their model directory, so
   * `pvc://` is not accepted.
   *
   * @see https://kserve.github.io/website/latest/modelserving/storage/
   */
  readonly storageUri: StorageUri;

  /**
   * The model format.
   *
   * @default ModelFormat.ONNX
   */
  readonly format?: ModelFormat;

  /**
   * Memory one loaded copy of the model takes. Counted once per copy against the pool's
   * capacity (`replicas × memoryPerServer`) at synth time.
   */
  readonly memoryEstimate: Size;

  /**
   * How many members hold the model.
   *
   * @default ModelCopies.count(1)
   */
  readonly copies?: ModelCopies;
}

/**
 * A model registered on a ModelMesh, with every default filled in.
 */
export interface MeshModel {
  /** The model name. */
  readonly name: string;
  /** Where the model is stored. */
  readonly storageUri: StorageUri;
  /** The model format. */
  readonly format: ModelFormat;
  /** Memory of one loaded copy. */
  readonly memoryEstimate: Size;
  /** How many members hold it. */
  readonly copies: ModelCopies;
}

/**
 * Properties of a `ModelMesh`.
 */
export interface ModelMeshProps {
  /**
   * Memory for models on each member: the server's memory budget. Loads beyond it evict idle
   * models, least recently used first. The container's memory request and limit are this plus
   * `serverOverhead`.
   */
  readonly memoryPerServer: Size;

  /**
   * Members of the pool (the HPA's minimum when `maxReplicas` is larger).
   *
   * @default 3
   */
  readonly replicas?: number;

  /**
   * The most members; larger than `replicas` adds a HorizontalPodAutoscaler on CPU.
   *
   * @default - `replicas`: a fixed-size pool
   */
  readonly maxReplicas?: number;

  /**
   * Memory each member needs besides its models (runtime, buffers), added to
   * `memoryPerServer` for the container's request and limit.
   *
   * @default Size.mebibytes(256)
   */
  readonly serverOverhead?: Size;

  /**
   * CPU request of each member.
   *
   * @default Cpu.millis(500)
   */
  readonly cpuRequest?: Cpu;

  /**
   * CPU limit of each member.
   *
   * @default Cpu.units(1)
   */
  readonly cpuLimit?: Cpu;

  /**
   * How long a member may take to fetch and load a model before the request fails.
   *
   * @default Duration.minutes(2)
   */
  readonly loadTimeout?: Duration;

  /**
   * Models to serve; sugar for `addModel`.
   *
   * @default - none; add them with `addModel`
   */
  readonly models?: MeshModelOptions[];

  /**
   * The name of the Deployment and Service; the peer Service adds `-peers`, the registry
   * ConfigMap `-models`.
   *
   * @default - a name cdk8s derives from the construct path
   */
  readonly name?: string;

  /**
   * The namespace of every object.
   *
   * @default - the chart's namespace, or the kubectl context's
   */
  readonly namespace?: string;

  /**
   * How traffic from outside the cluster reaches the mesh: `EndpointIngress.istio()` adds a
   * VirtualService routing `/v2/models/<name>/infer` of every model to the mesh Service.
   *
   * @default EndpointIngress.none()
   */
  readonly ingress?: EndpointIngress;

  /**
   * The host clients call through the ingress.
   *
   * @default - `<name>.<namespace>.example.com`
   */
  readonly host?: string;

  /**
   * The model-server image.
   *
   * @default - the model-server image released with this library
   */
  readonly serverImage?: string;

  /**
   * The service account the members run as.
   *
   * @default - the namespace's default service account
   */
  readonly serviceAccount?: IServiceAccount;

  /**
   * A secret with storage credentials (`AWS_ACCESS_KEY_ID`, ...), mounted read-only.
   *
   * @default - no credentials: public buckets and URLs only
   */
  readonly storageCredentials?: ISecret;

  /**
   * How the models' storage is authenticated (see `StorageAuth`). Workload identity runs the
   * members as its service account.
   *
   * @default - `storageCredentials` when set; otherwise the members try the cloud's default
   * credentials and fall back to anonymous requests
   */
  readonly storageAuth?: StorageAuth;

  /**
   * Whether a NetworkPolicy admits only the members themselves and `allowedNamespaces`.
   *
   * @default true
   */
  readonly networkPolicy?: boolean;

  /**
   * Namespaces allowed to reach the members besides the members themselves.
   *
   * @default - istio-system with an Istio ingress, else none
   */
  readonly allowedNamespaces?: string[];

  /**
   * Labels on every object and pod.
   *
   * @default - none beyond the standard `app.kubernetes.io/*` labels
   */
  readonly labels?: { [key: string]: string };

  /**
   * The user the containers run as (never 0).
   *
   * @default 1000
   */
  readonly runAsUser?: number;
}

/**
 * A pool of model servers that share many models.
 */
export interface IModelMesh extends IConstruct {
  /** The Deployment and Service name. */
  readonly name: string;
  /** The namespace, if one was set. */
  readonly namespace?: string;
  /** The URL inside the cluster: `<url>/v2/models/<name>/infer` reaches any model. */
  readonly url: string;
}

/**
 * Many models on a shared pool of model servers (KServe ModelMesh's idea, on our server).
 *
 * Synthesizes a `Deployment` (id `Resource`) of servers in mesh mode, a `Service`, a headless
 * `Service` for peer discovery (id `PeerService`), a `ConfigMap` model registry (id
 * `Registry`), a `PodDisruptionBudget` (more than one replica), a `HorizontalPodAutoscaler`
 * (when `maxReplicas > replicas`), a `NetworkPolicy` and, with an Istio ingress, a
 * `VirtualService`. Each model is placed on `copies` members by rendezvous hashing weighted by
 * memory; any member answers any model, forwarding to a holder in one hop; holders fetch and
 * load models on demand within `memoryPerServer`, evicting idle ones.
 *
 * Models are registered in a ConfigMap (not a custom resource): the members mount it read-only
 * and re-read it when it changes, so adding a model is a plain `kubectl apply`, without a
 * controller or a restart.
 *
 * @example
 * const mesh = new ModelMesh(chart, 'mesh', { replicas: 3, memoryPerServer: Size.gibibytes(2) });
 * mesh.addModel({ name: 'iris', storageUri: StorageUri.s3('models', 'iris'), memoryEstimate: Size.mebibytes(64) });
 */
export class ModelMesh extends Construct implements IModelMesh {
  public readonly name: string;
  public readonly namespace?: string;
  /** Members of the pool (the minimum when autoscaled). */
  public readonly replicas: number;
  /** The most members. */
  public readonly maxReplicas: number;
  /** Memory for models on each member. */
  public readonly memoryPerServer: Size;
  /** The name of the headless Service peers resolve. */
  public readonly peerServiceName: string;

  private readonly models = new Map<string, MeshModel>();
  private readonly host: string;
  private readonly ingress: EndpointIngress;

  constructor(scope: Construct, id: string, props: ModelMeshProps) {
    super(scope, id);
    assertMeshRuntimeAllowed(this);
    this.namespace = props.namespace ?? Chart.of(this).namespace;
    this.name = props.name ?? Names.toDnsLabel(this, { maxLen: 63 - PEER_SUFFIX.length });
    assertDns1035Label('name', this.name);
    assertDerivedLength('name', this.name, `${this.name}${PEER_SUFFIX}`);
    if (this.namespace !== undefined) assertDns1123Label('namespace', this.namespace);
    this.peerServiceName = `${this.name}${PEER_SUFFIX}`;

    this.replicas = props.replicas ?? 3;
    if (!Number.isInteger(this.replicas) || this.replicas < 1) {
      throw new Error(`'replicas' must be a positive integer, got ${this.replicas}`);
    }
    this.maxReplicas = props.maxReplicas ?? this.replicas;
    if (!Number.isInteger(this.maxReplicas) || this.maxReplicas < this.replicas) {
      throw new Error(`'maxReplicas' must be an integer not below 'replicas' (${this.replicas}), got ${this.maxReplicas}`);
    }
    this.memoryPerServer = props.memoryPerServer;
    const budget = sizeBytes(props.memoryPerServer);
    if (budget < 16 * 2 ** 20) {
      throw new Error(`'memoryPerServer' must be at least 16Mi, got ${budget} bytes`);
    }
    const modelDirSize = Size.kibibytes((2 * budget) / 1024);
    const overhead = sizeBytes(props.serverOverhead ?? Size.mebibytes(256));
    const cpuRequest = props.cpuRequest ?? Cpu.millis(500);
    const cpuLimit = props.cpuLimit ?? Cpu.units(1);
    if (cpuMillis(cpuLimit) < cpuMillis(cpuRequest)) {
      throw new Error(`'cpuLimit' (${cpuLimit.amount}) must not be below 'cpuRequest' (${cpuRequest.amount})`);
    }
    const loadTimeoutMs = (props.loadTimeout ?? Duration.minutes(2)).toMilliseconds();
    if (loadTimeoutMs < 1000) {
      throw new Error(`'loadTimeout' must be at least 1 second, got ${loadTimeoutMs} ms`);
    }
    const runAsUser = props.runAsUser ?? 1000;
    if (!Number.isInteger(runAsUser) || runAsUser < 1) {
      throw new Error(`'runAsUser' must be a positive integer (the restricted profile forbids root), got ${runAsUser}`);
    }
    this.ingress = props.ingress ?? EndpointIngress.none();
    if (this.ingress._kind !== IngressKind.ISTIO && this.ingress._kind !== IngressKind.NONE) {
      throw new Error("'ingress' must be EndpointIngress.istio() or EndpointIngress.none() for a ModelMesh");
    }
    this.host = props.host ?? `${this.name}.${this.namespace ?? 'default'}.example.com`;
    assertDns1123Subdomain('host', this.host);
    const allowedNamespaces = props.allowedNamespaces ?? (this.ingress._kind === IngressKind.ISTIO ? ['istio-system'] : []);
    for (const ns of allowedNamespaces) assertDns1123Label('allowedNamespaces', ns);

    const selector = { [contract.LABELS.mesh]: this.name, [contract.LABELS.component]: 'mesh' };
    const labels = {
      ...(props.labels ?? {}),
      [contract.LABELS.name]: this.name,
      [contract.LABELS.partOf]: contract.PART_OF,
      [contract.LABELS.managedBy]: contract.MANAGED_BY,
      ...selector,
    };
    const metadata = (name = this.name) => ({ name, namespace: this.namespace, labels });
    const registryName = `${this.name}${REGISTRY_SUFFIX}`;
    const peerDns = this.namespace ? `${this.peerServiceName}.${this.namespace}.svc.cluster.local` : this.peerServiceName;

    new ApiObject(this, 'Resource', {
      apiVersion: k8s.KubeDeployment.GVK.apiVersion,
      kind: k8s.KubeDeployment.GVK.kind,
      metadata: metadata(),
      spec: Lazy.any({
        produce: () => ({
          replicas: this.replicas,
          selector: { matchLabels: selector },
          // One member at a time: its models move to the next members in their ranking.
          strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
          template: {
            metadata: { labels },
            spec: meshPodSpec({
              image: props.serverImage ?? contract.DEFAULT_SERVER_IMAGE,
              memoryBudgetBytes: budget,
              memory: Size.kibibytes((budget + overhead) / 1024),
              cpuRequest: cpuRequest.amount,
              cpuLimit: cpuLimit.amount,
              peerDns,
              registryConfigMap: registryName,
              loadTimeoutMs,
              runAsUser,
              // Fetched model files: room for the models that fit in memory, twice over.
              modelDirSizeLimit: sizeToQuantity(modelDirSize),
              // The service account and secret, and the storage env (auth mode, write cap = the volume's limit).
              ...resolveStorageAuth({ ...props, modelVolumeLimit: modelDirSize }),
            }),
          },
        }),
      }),
    });

    new k8s.KubeConfigMap(this, 'Registry', {
      metadata: metadata(registryName),
      data: Lazy.any({ produce: () => ({ [contract.MESH_REGISTRY_KEY]: this.registryJson() }) }),
    });

    new k8s.KubeService(this, 'Service', {
      metadata: metadata(),
      spec: {
        type: 'ClusterIP',
        selector,
        ports: [
          { name: 'http', port: SERVICE_HTTP_PORT, targetPort: k8s.IntOrString.fromNumber(contract.HTTP_PORT), appProtocol: 'http', protocol: 'TCP' },
          { name: 'grpc', port: contract.GRPC_PORT, targetPort: k8s.IntOrString.fromNumber(contract.GRPC_PORT), appProtocol: 'grpc', protocol: 'TCP' },
        ],
      },
    });

    new k8s.KubeService(this, 'PeerService', {
      metadata: metadata(this.peerServiceName),
      spec: {
        clusterIp: 'None',
        // Members probe each other themselves: list members that are not ready yet as well.
        publishNotReadyAddresses: true,
        selector,
        ports: [{ name: 'http', port: contract.HTTP_PORT, targetPort: k8s.IntOrString.fromNumber(contract.HTTP_PORT), protocol: 'TCP' }],
      },
    });

    if (this.maxReplicas > this.replicas) {
      deploymentAutoscaler(this, 'HorizontalPodAutoscaler', {
        metadata: metadata(),
        deployment: this.name,
        minReplicas: this.replicas,
        maxReplicas: this.maxReplicas,
        resource: 'cpu',
        averageUtilization: 80,
      });
    }
    if (this.replicas > 1) {
      new k8s.KubePodDisruptionBudget(this, 'PodDisruptionBudget', {
        metadata: metadata(),
        spec: { maxUnavailable: k8s.IntOrString.fromNumber(1), selector: { matchLabels: selector } },
      });
    }
    if (props.networkPolicy ?? true) {
      const peers: k8s.NetworkPolicyPeer[] = [{ podSelector: { matchLabels: selector } }];
      if (allowedNamespaces.length > 0) {
        peers.push({ namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: [...allowedNamespaces] }] } });
      }
      new k8s.KubeNetworkPolicy(this, 'NetworkPolicy', {
        metadata: metadata(),
        spec: {
          podSelector: { matchLabels: selector },
          policyTypes: ['Ingress'],
          ingress: [{
            from: peers,
            ports: [contract.HTTP_PORT, contract.GRPC_PORT].map(port => ({ protocol: 'TCP', port: k8s.IntOrString.fromNumber(port) })),
          }],
        },
      });
    }
    if (this.ingress._kind === IngressKind.ISTIO) {
      new ApiObject(this, 'VirtualService', {
        apiVersion: VirtualService.GVK.apiVersion,
        kind: VirtualService.GVK.kind,
        metadata: metadata(),
        spec: Lazy.any({
          produce: () => ({
            hosts: [this.host],
            gateways: [this.ingress._gateway ?? DEFAULT_ISTIO_GATEWAY],
            http: [{
              name: 'models',
              match: this.sortedModels().map(m => ({ uri: { exact: `/v2/models/${m.name}/infer` } })),
              route: [{ destination: { host: `${this.name}.${this.namespace ?? 'default'}.svc.cluster.local`, port: { number: SERVICE_HTTP_PORT } }, weight: 100 }],
            }],
          }),
        }),
      });
    }

    this.node.addValidation({ validate: () => this.validateCapacity() });
    for (const model of props.models ?? []) this.addModel(model);
  }

  public get url(): string {
    return `http://${this.name}.${this.namespace ?? 'default'}.svc.cluster.local`;
  }

  /** Pool capacity for models: `replicas × memoryPerServer`. */
  public get capacity(): Size {
    return Size.kibibytes((this.replicas * sizeBytes(this.memoryPerServer)) / 1024);
  }

  /** The models registered so far, sorted by name. */
  public get registeredModels(): MeshModel[] {
    return this.sortedModels();
  }

  /**
   * Registers a model on the mesh.
   *
   * @returns the model with its defaults
   * @throws on a duplicate name, a non-ONNX format, a `pvc://` storage URI, more copies than
   * `replicas`, or a `memoryEstimate` above `memoryPerServer`
   */
  public addModel(options: MeshModelOptions): MeshModel {
    assertDns1123Label('name', options.name);
    if (this.models.has(options.name)) {
      throw new Error(`model '${options.name}' is already registered on this mesh; model names must be unique`);
    }
    const format = options.format ?? ModelFormat.ONNX;
    if (!format.servedByModelServer) {
      // rt-core: a mesh's members run our server only (peers route to each other's models).
      throw new Error(meshFormatError(this, options.name, format));
    }
    // Re-parse: a StorageUri built elsewhere is checked again, with the mesh's own rule.
    const reparsed = StorageUri.fromUri(options.storageUri.uri);
    const storageUri = reparsed.scheme === 'oci' ? options.storageUri : reparsed; // keeps the oci:// mount choice
    if (storageUri.isMounted) {
      throw new Error(`model '${options.name}' has 'storageUri' '${storageUri.uri}': a ModelMesh fetches models on demand, so ${storageUri.scheme === 'pvc' ? 'pvc://' : 'a mounted oci:// image'} is not supported; ` +
        'use s3://, gs://, https://, http://, hf://, or StorageUri.oci(image, { mount: ModelImageMount.FETCH })');
    }
    const copies = options.copies ?? ModelCopies.count(1);
    if (!copies.everyMember && copies.copies > this.replicas) {
      throw new Error(`model '${options.name}' asks for ${copies.copies} copies, but the mesh has only ${this.replicas} replicas; use at most ${this.replicas} or ModelCopies.EVERY_MEMBER`);
    }
    const estimate = sizeBytes(options.memoryEstimate);
    if (estimate <= 0) {
      throw new Error(`model '${options.name}' needs a positive 'memoryEstimate', got ${estimate} bytes`);
    }
    if (estimate > sizeBytes(this.memoryPerServer)) {
      throw new Error(`model '${options.name}' has 'memoryEstimate' ${estimate} bytes, more than 'memoryPerServer' (${sizeBytes(this.memoryPerServer)} bytes): no member could load it`);
    }
    const model: MeshModel = { name: options.name, storageUri, format, memoryEstimate: options.memoryEstimate, copies };
    this.models.set(model.name, model);
    return model;
  }

  private sortedModels(): MeshModel[] {
    return [...this.models.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  private copiesOf(model: MeshModel): number {
    return model.copies.everyMember ? this.replicas : model.copies.copies;
  }

  private validateCapacity(): string[] {
    if (this.models.size === 0) {
      return ['the mesh has no models; register at least one with addModel() or the \'models\' prop'];
    }
    const needed = this.sortedModels().reduce((sum, m) => sum + sizeBytes(m.memoryEstimate) * this.copiesOf(m), 0);
    const capacity = this.replicas * sizeBytes(this.memoryPerServer);
    if (needed > capacity) {
      return [`the models need ${needed} bytes (sum of memoryEstimate × copies), more than the pool's capacity of ${capacity} bytes (replicas ${this.replicas} × memoryPerServer ${sizeBytes(this.memoryPerServer)}); raise 'replicas' or 'memoryPerServer', or lower copies`];
    }
    return [];
  }

  private registryJson(): string {
    const models = this.sortedModels().map(m => ({
      name: m.name,
      storageUri: m.storageUri.uri,
      format: m.format.name,
      memoryEstimateBytes: sizeBytes(m.memoryEstimate),
      copies: m.copies.everyMember ? 'all' : m.copies.copies,
    }));
    return `${JSON.stringify({ models }, undefined, 2)}\n`;
  }
}
