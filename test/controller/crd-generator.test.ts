/**
 * The generated spec model and schemas (src/render/controller/spec-model.generated.ts) match the
 * current jsii assembly, and every prop of the props types is in the schema or deliberately left out.
 */
import * as fs from 'fs';
import { generated, GENERATED_CRDS_FILE, GENERATED_FILE } from '../../scripts/crd/generate';
import { LEFT_OUT, LEFT_OUT_FACTORIES, loadTypes, missingProps, parseDefault, readSpecModel } from '../../scripts/crd/read-assembly';
import { SPEC_MODEL, SPEC_SCHEMAS } from '../../src/render/controller/spec-model.generated';

const types = loadTypes();

test('the committed generated module and CRD YAML are what the current .jsii gives (run `npx projen crd:generate` after compile)', () => {
  const current = generated();
  expect(fs.readFileSync(GENERATED_FILE, 'utf8')).toEqual(current.module);
  expect(fs.readFileSync(GENERATED_CRDS_FILE, 'utf8')).toEqual(current.crds);
});

test('every prop of every props type reached from the three kinds is in the model or in LEFT_OUT', () => {
  expect(missingProps(types, SPEC_MODEL)).toEqual([]);
  // The roots reach the structs behind them: endpoint options, versions, monitoring, scheduling, security.
  expect(Object.keys(SPEC_MODEL.structs)).toEqual(expect.arrayContaining([
    'cdk8s-model-serving.ModelEndpointProps', 'cdk8s-model-serving.CanaryRolloutProps', 'cdk8s-model-serving.ModelMeshProps',
    'cdk8s-model-serving.TransformerOptions', 'cdk8s-model-serving.ExplainerOptions', 'cdk8s-model-serving.ModelVersion',
    'cdk8s-model-serving.MonitoringOptions', 'cdk8s-model-serving.Toleration', 'cdk8s-model-serving.EndpointSecurityOptions',
    'cdk8s-plus-33.ContainerResources',
  ]));
});

test('every entry of LEFT_OUT names a real prop and gives a reason', () => {
  for (const [key, reason] of Object.entries({ ...LEFT_OUT, ...LEFT_OUT_FACTORIES })) {
    const [assembly, type, member] = key.split('.');
    const t = types.get(`${assembly}.${type}`);
    expect(t).toBeDefined();
    const names = [...(t!.properties ?? []), ...(t!.methods ?? [])].map(p => p.name);
    expect(names).toContain(member);
    expect(reason.length).toBeGreaterThan(20);
  }
});

test('the spec schema of each kind has every prop of the model, the add* fields, and no left-out prop', () => {
  const kinds = { ModelEndpoint: ['transformer', 'explainer'], CanaryRollout: [], ModelMesh: [] } as { [kind: string]: string[] };
  for (const root of SPEC_MODEL.roots) {
    const properties = Object.keys(SPEC_SCHEMAS[root.kind].properties as object);
    const expected = [...SPEC_MODEL.structs[root.props].props.map(p => p.name), ...kinds[root.kind]];
    expect(properties.sort()).toEqual(expected.sort());
    expect(properties).not.toContain('name');
    expect(properties).not.toContain('namespace');
  }
  expect(Object.keys((SPEC_SCHEMAS.ModelMesh.properties as any))).toContain('models');
});

test('a new prop of a type with no JSON form fails the generation, naming the prop', () => {
  const broken = new Map(types);
  const props = broken.get('cdk8s-model-serving.ModelMeshProps')!;
  broken.set(props.fqn, { ...props, properties: [...props.properties!, { name: 'gateway', type: { fqn: 'cdk8s-model-serving.ModelGateway' }, optional: true }] });
  expect(() => readSpecModel(broken)).toThrow(/ModelMeshProps\.gateway: type cdk8s-model-serving.ModelGateway has no JSON form; add the prop to LEFT_OUT/);
});

test('a prop that the model lacks is reported by the coverage check', () => {
  const model = readSpecModel(types);
  const mesh = model.structs['cdk8s-model-serving.ModelMeshProps'];
  const without = { ...model, structs: { ...model.structs, [mesh.fqn]: { ...mesh, props: mesh.props.filter(p => p.name !== 'replicas') } } };
  expect(missingProps(types, without)).toEqual(['cdk8s-model-serving.ModelMeshProps.replicas']);
});

test('a new prop of a known type is picked up with its docs and literal default', () => {
  const extended = new Map(types);
  const props = extended.get('cdk8s-model-serving.ModelEndpointProps')!;
  extended.set(props.fqn, {
    ...props,
    properties: [...props.properties!, { name: 'runtime', type: { primitive: 'string' }, optional: true, docs: { summary: 'The serving runtime.', default: "'onnx'" } }],
  });
  const runtime = readSpecModel(extended).structs[props.fqn].props.find(p => p.name === 'runtime');
  expect(runtime).toEqual({ name: 'runtime', type: { primitive: 'string' }, optional: true, description: 'The serving runtime.', default: 'onnx' });
});

test('literal defaults become JSON; defaults that describe behaviour do not', () => {
  expect(parseDefault('Duration.minutes(10)', { codec: 'duration' }, types)).toBe('10m');
  expect(parseDefault('Size.mebibytes(256)', { codec: 'size' }, types)).toBe('256Mi');
  expect(parseDefault('Cpu.millis(500)', { codec: 'cpu' }, types)).toBe('500m');
  expect(parseDefault('DeploymentMode.SERVERLESS', { enum: 'cdk8s-model-serving.DeploymentMode' }, types)).toBe('Serverless');
  expect(parseDefault('ModelFormat.ONNX', { codec: 'modelFormat' }, types)).toBe('onnx');
  expect(parseDefault('ModelCopies.count(1)', { codec: 'modelCopies' }, types)).toBe(1);
  expect(parseDefault('EndpointIngress.istio()', { union: 'cdk8s-model-serving.EndpointIngress' }, types)).toEqual({ istio: {} });
  expect(parseDefault("ExplainerBackground.fromModelDir('background.json')", { union: 'cdk8s-model-serving.ExplainerBackground' }, types))
    .toEqual({ modelDir: { fileName: 'background.json' } });
  expect(parseDefault("['a', 'b']", { array: { primitive: 'string' } }, types)).toEqual(['a', 'b']);
  expect(parseDefault('- the chart\'s namespace', { primitive: 'string' }, types)).toBeUndefined();
  expect(parseDefault("'example.com' (Knative's default domain)", { primitive: 'string' }, types)).toBeUndefined();
  expect(parseDefault('1.5', { primitive: 'integer' }, types)).toBeUndefined();
});

test('schema types, enums, descriptions and CEL rules come from the props', () => {
  const me = SPEC_SCHEMAS.ModelEndpoint as any;
  expect(me.required).toEqual(['modelName']); // storageUri: optional for custom containers (model in the image)
  expect(me.properties.mode).toMatchObject({ type: 'string', enum: ['Serverless', 'RawDeployment'], default: 'Serverless' });
  expect(me.properties.mode.description).toMatch(/^How the endpoint is deployed\.\n\n.*\nServerless: A Knative Service/s);
  expect(me.properties.minReplicas).toMatchObject({ type: 'integer', default: 1 });
  expect(me.properties.timeout).toMatchObject({ type: 'string', pattern: expect.any(String) });
  expect(me.properties.resources.properties.memory.properties.limit['x-kubernetes-int-or-string']).toBe(true);
  expect(me['x-kubernetes-validations']).toContainEqual({ rule: '!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas <= self.maxReplicas', message: "'maxReplicas' must not be below 'minReplicas'", fieldPath: '.maxReplicas' });
  expect(me.properties.transformer['x-kubernetes-validations'].map((r: any) => r.rule)).toContain('has(self.module) != has(self.container)');
  expect(me.properties.ingress['x-kubernetes-validations'][0].rule).toBe('[has(self.gatewayApi), has(self.istio), has(self.kubernetes), has(self.none)].exists_one(x, x)');
  const mesh = SPEC_SCHEMAS.ModelMesh as any;
  expect(mesh.properties.models.items.required).toEqual(['memoryEstimate', 'name', 'storageUri']);
  expect(mesh.properties.monitoring).toBeUndefined();
  const canary = SPEC_SCHEMAS.CanaryRollout as any;
  expect(canary.properties.monitoring.properties.errorRatioThreshold).toMatchObject({ type: 'number', default: 0.05 });
});
