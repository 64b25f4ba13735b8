import { cdk8s, javascript } from 'projen';
import { addImageJob } from './projenrc/release';

// Node 20 is what these machines run; jsii prints an end-of-life banner on every call otherwise.
const JSII_ENV = { JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION: '20' };

const project = new cdk8s.ConstructLibraryCdk8s({
  author: 'cdk8s-model-serving authors',
  authorAddress: 'maintainers@cdk8s-model-serving.dev',
  cdk8sVersion: '2.70.0',
  constructsVersion: '10.3.0',
  defaultReleaseBranch: 'main',
  jsiiVersion: '~6.0.0',
  name: 'cdk8s-model-serving',
  description: 'KServe-class model serving for any Kubernetes cluster, as code: cdk8s constructs, an ONNX model server and a controller',
  keywords: ['cdk8s', 'kubernetes', 'kserve', 'knative', 'istio', 'model-serving', 'onnx', 'inference'],
  // ---- bindings (issue 19 part 2): the jsii targets jsii-pacmak builds (`npx projen package-all`);
  // examples/bindings/ proves each with a real app (`npx projen bindings:check`). ----
  publishToPypi: { distName: 'cdk8s-model-serving', module: 'cdk8s_model_serving' },
  publishToGo: { moduleName: 'github.com/cdk8s-model-serving/cdk8s-model-serving-go' },
  publishToMaven: {
    javaPackage: 'io.cdk8smodelserving',
    mavenGroupId: 'io.github.cdk8s-model-serving',
    mavenArtifactId: 'cdk8s-model-serving',
  },
  // ---- end of bindings ----
  packageManager: javascript.NodePackageManager.NPM,
  projenrcTs: true,
  repositoryUrl: 'https://github.com/cdk8s-model-serving/cdk8s-model-serving.git',

  // ---- release (issue 19 part 1): on main, the version comes from conventional commits (projen bumps
  // package.json, stamps src/package-version.ts at build, writes CHANGELOG.md) and is published to npm (and to the
  // jsii targets configured here); projenrc/release.ts adds the image job. Only the release workflow:
  // CI runs .ci/run, so no build, pull-request-lint or mergify files. ----
  release: true,
  releaseToNpm: true,
  github: true,
  githubOptions: { mergify: false, pullRequestLint: false },
  buildWorkflow: false,
  depsUpgrade: false,
  pullRequestTemplate: false,
  // ---- end of release ----

  // The Kubernetes API version the constructs target (cdk8s-plus-33: Kubernetes 1.33); README states the range.
  peerDeps: ['cdk8s-plus-33@^2.5.57'],
  // kserve-import (issue 16): KServeImport.fromYaml parses YAML at synth time; bundled, as cdk8s bundles it.
  bundledDeps: ['yaml@^2.9.0'],
  // The server's and controller's libraries are not jsii packages and must not burden users of
  // the constructs: they are devDeps, bundled into the image from the repo.
  devDeps: [
    'cdk8s-cli@2.207.60',
    'cdk8s-plus-33@2.5.57',
    'fastify@^5.12.0',
    '@grpc/grpc-js@^1.14.0',
    '@grpc/proto-loader@^0.8.0',
    'prom-client@^15.1.3',
    'onnxruntime-node@1.30.0',
    'tar@^7.5.0',
    'ajv@^8.20.0',
    'ajv-formats@^3.0.1',
    'esbuild@^0.28.0',
    'fast-check@^4.10.0',
    's3rver@^3.7.1',
    'autocannon@^8.0.0',
    // storage (issue 11 §4): credential chains and cloud clients, bundled into a chunk of their
    // own that the server loads only for s3:// and gs:// (scripts/bundle-server.js).
    '@aws-sdk/client-s3',
    '@aws-sdk/credential-providers',
    // 10.x: 11.x needs Node 22+, and the test suite still runs on the machine's Node 20.
    'google-auth-library@^10.9.0',
    // CRC32C of GCS's x-goog-hash (node:zlib has CRC32 only).
    '@aws-crypto/crc32c@^5.2.0',
    // ---- ctl-webhook (issue 14): X.509 for the webhook's self-signed CA and serving
    // certificate (WebCrypto-based, bundled into the controller tool) ----
    '@peculiar/x509@^2.2.0',
    // tsyringe (a dependency of @peculiar/x509) needs the Reflect metadata polyfill loaded first.
    'reflect-metadata@^0.2.2',
    // ---- end of ctl-webhook ----
    // ---- ctl-core (issue 14): the controller's Kubernetes client, bundled into assets/tool/ by esbuild.
    // ESM-only; 1.4 runs on Node 20 (the test suite's Node), 2.x needs Node 22+.
    '@kubernetes/client-node@~1.4.0',
  ],
  excludeTypescript: ['src/server/**', 'src/controller/**'],
  jestOptions: {
    // Snapshots are reviewed code: a mismatch fails the run instead of being rewritten.
    updateSnapshot: javascript.UpdateSnapshot.NEVER,
    jestConfig: {
      testTimeout: 60_000,
      // ---- ci-time: two workers on CI's 2 cores (jest's default there is one, cores - 1). Much of the run waits
      // on child processes (servers, the controller, the test cluster, promtool, the cdk8s CLI), so a second
      // worker fills that idle core. A worker that grows past 1.5 GB after a file is replaced, so a leak stays
      // local. More cores: `npx projen test --maxWorkers=N`. ----
      maxWorkers: 2,
      workerIdleMemoryLimit: '1536MB',
      globalSetup: '<rootDir>/test/global-setup.js',
      // Seeded property tests: fast-check gets a fixed seed in every file (test/seeded.ts).
      setupFiles: ['<rootDir>/test/fast-check-setup.js'],
      // ---- test cluster (test/cluster): stopped after the run; every test file's objects go to its API server ----
      globalTeardown: '<rootDir>/test/global-teardown.js',
      setupFilesAfterEnv: ['<rootDir>/test/cluster/jest-setup.ts'],
      coveragePathIgnorePatterns: ['/node_modules/', '/src/imports/'],
      // ---- release (issue 19): a fixed version stands in for the generated src/package-version.ts, so snapshots keep
      // their image tag when the release bumps package.json; test/release/version.test.ts checks the real one. ----
      moduleNameMapper: { '^\\./package-version$': '<rootDir>/test/release/test-version.ts' },
    },
  },
  tsconfigDev: {
    compilerOptions: {},
    include: ['src/server/**/*.ts', 'src/controller/**/*.ts', 'bench/**/*.ts', 'examples/**/*.ts'],
  },
});

for (const [key, value] of Object.entries(JSII_ENV)) project.tasks.addEnvironment(key, value);

// ---- release (issue 19): src/package-version.ts from package.json, first thing at build; the image job ----
const stampVersion = project.addTask('version:stamp', {
  description: 'Write src/package-version.ts from package.json\'s version (the default image tag and the server\'s version)',
  exec: 'node scripts/stamp-version.js',
});
project.preCompileTask.prependSpawn(stampVersion);
// The release task checks `git diff --exit-code` after unbump resets package.json: src/package-version.ts follows it back.
project.tasks.tryFind('unbump')?.spawn(stampVersion);
addImageJob(project);
// onnxruntime-node as an optional peer of the published package (jsii allows only jsii peers in package.json).
project.tasks.tryFind('package:js')?.exec('node scripts/declare-optional-peers.js');
// ---- end of release ----

// onnxruntime-node's postinstall downloads CUDA providers from a host we cannot reach; the CPU
// runtime is already in the npm tarball.
project.package.addField('allowScripts', { 'onnxruntime-node': false });
// fastify 5's inject() breaks under jest 30 on Node 20 with newer light-my-request (ESM-only dep).
project.package.addField('overrides', { 'light-my-request': '~6.6.0' });

// Generated L1 classes from the vendored CRDs in imports/. Works offline. The Kubernetes core
// classes come from cdk8s-plus-33 (`k8s`), since `cdk8s import k8s` downloads its schema.
const importTask = project.addTask('import', {
  description: 'Generate typed classes in src/imports/ from the upstream CRDs vendored in imports/',
});
const crdImports: Record<string, string> = {
  knative: 'imports/knative-serving.yaml',
  istio: 'imports/istio.yaml',
  gateway: 'imports/gateway-api-httproutes.yaml',
  monitoring: 'imports/prometheus-operator.yaml',
};
for (const [prefix, file] of Object.entries(crdImports)) {
  importTask.exec(`cdk8s import -l typescript -o src/imports --no-check-upgrade ${prefix}:=${file}`);
}
project.preCompileTask.spawn(importTask);

// The model server is bundled with esbuild (outside jsii) for the bin and the container image.
const bundleServer = project.addTask('bundle:server', {
  description: 'Bundle the model server into assets/server/',
  exec: 'node scripts/bundle-server.js',
});
project.preCompileTask.spawn(bundleServer);
project.addBins({ 'cdk8s-model-server': 'assets/server/cli.js' });

// ---- ctl-core (issue 14): the `cdk8s-model-serving` tool (the controller; later `kserve`), bundled with
// esbuild from src/controller/ into assets/tool/cli.js: the bin, and `node /app/assets/tool/cli.js controller`
// in the image. Jest's global setup bundles it too, so the controller tests spawn the code in src/.
const bundleTool = project.addTask('bundle:tool', {
  description: 'Bundle the cdk8s-model-serving tool (controller) into assets/tool/',
  exec: 'node scripts/bundle-tool.js',
});
project.preCompileTask.spawn(bundleTool);
project.addBins({ 'cdk8s-model-serving': 'assets/tool/cli.js' });
project.addTask('bench:controller', {
  description: 'Controller: time to reconcile 1,000 ModelEndpoints (--count N), API writes per CR, RSS, writes during a resync',
  exec: 'ts-node --transpile-only --project tsconfig.server.json bench/controller/run.ts',
  receiveArgs: true,
});
// ---- end ctl-core ----

// The transformer SDK for module authors (`cdk8s-model-serving/lib/sdk`), built after jsii.
const buildSdk = project.addTask('build:sdk', {
  description: 'Build the transformer SDK (src/server/sdk.ts) into lib/sdk/',
  exec: 'node scripts/build-sdk.js',
});
project.postCompileTask.prependSpawn(buildSdk);
project.gitignore.exclude('/assets/');
project.npmignore?.include('/assets/');
// Users of the constructs need lib/, the server bundle and the docs, not the repo's tooling.
project.npmignore?.exclude('/bench/', '/scripts/', '/.ci/', '/imports/', '/examples/', '/Dockerfile', '/.dockerignore', '/tsconfig.server.json');

// The server, controller, benchmarks and examples are outside jsii; tsc checks them here.
const typecheck = project.addTask('typecheck', {
  description: 'Type-check the code jsii does not compile (server, controller, benchmarks, examples)',
  exec: 'tsc -p tsconfig.server.json',
});
project.testTask.prependSpawn(typecheck);

// Benchmarks print a table and write JSON to bench/results/; never part of the test run.
const tsNode = 'ts-node --transpile-only --project tsconfig.server.json';
project.addTask('bench:synth', {
  description: 'Synthesis time and memory of ModelEndpoints versus plain ApiObjects (10, 100, 1000)',
  exec: `${tsNode} bench/synth/run.ts`,
  receiveArgs: true,
});
project.addTask('bench:server', {
  description: 'Model server throughput and latency versus a bare node:http server, and start-up time',
  exec: 'node bench/server/run.js',
  receiveArgs: true,
});

// ---- Node 24 LTS (issue 11 section 7) ----
// The image runs Node 24 LTS and the server bundle targets it (Dockerfile, scripts/bundle-server.js).
// `engines`, though, is read by npm for everyone who installs this package, and most install it
// for the constructs alone, which run on any Node that jsii and cdk8s support (20 and 22 too).
// `>= 24` there would warn them, or fail their install under engine-strict, for a requirement
// that only the image has. So `engines.node` is the floor this package is tested on (CI runs
// every suite, the bundled server included, on Node 20, and the server suites again on Node 24),
// and the README says that the server is built for and tested on Node 24.
project.package.addEngine('node', '>= 20.0.0');
// CI runs jest on the machine's Node and, with this task, the server suites that start real
// server processes again on the image's Node 24 (the pinned binary from the npm registry).
project.addTask('test:server:node24', {
  description: 'Run the server suites whose result depends on Node with the servers on the image\'s Node 24 (jest on this Node; MODEL_SERVER_NODE; scripts/node24.js)',
  exec: 'node scripts/node24.js test',
  receiveArgs: true,
});
// ---- end of Node 24 LTS ----

project.addTask('bench:transformer', {
  description: 'Latency a separate transformer adds versus the in-process one',
  exec: 'node bench/transformer/run.js',
  receiveArgs: true,
});
project.addTask('bench:logging', {
  description: 'Inference latency and throughput with payload logging to a healthy, down and hanging sink, against no logger',
  exec: 'node bench/logging/run.js',
  receiveArgs: true,
});
// ---- graph router (issue 18 part 1): a 3-step Sequence networked versus in process versus one direct call ----
project.addTask('bench:graph', {
  description: 'Inference graph: a 3-step Sequence through a router and 3 model servers versus in process, versus calling the model directly; added latency per hop',
  exec: 'node bench/graph/run.js',
  receiveArgs: true,
});
project.addTask('bench:agent', {
  description: 'Latency and throughput through the agent sidecar, with and without batching, against the runtime direct (our server; MLServer with the runtimes venv)',
  exec: 'node bench/agent/run.js',
  receiveArgs: true,
});
project.addTask('bench:mesh', {
  description: 'ModelMesh throughput, hit rate and memory versus one server process per model',
  exec: 'node bench/mesh/run.js',
  receiveArgs: true,
});
// ---- issue 11, HTTP/1.1 front: large uploads through the lean front and node:http side by side ----
project.addTask('bench:upload', {
  description: '15 MiB uploads through the lean HTTP/1.1 front and through node:http; time per upload and ratio',
  exec: 'node bench/server/upload.js',
  receiveArgs: true,
});

// ---- controller CRDs (ctl-crd, issue 14): the spec schema of ModelEndpoint, CanaryRollout and ModelMesh is
// generated from the jsii assembly (.jsii) into src/render/controller/spec-model.generated.ts, which is committed;
// test/controller/crd-generator.test.ts fails when it is stale. Run after `npx projen compile`. ----
project.addTask('crd:generate', {
  description: 'Generate the custom resources\' spec schema and type model from the jsii assembly (run after compile)',
  exec: `${tsNode} scripts/crd/generate.ts`,
});
// ---- end controller CRDs ----

// Synthesize every example with the real cdk8s CLI and validate the YAML offline.
const validate = project.addTask('validate', {
  description: 'Synthesize examples/* with the cdk8s CLI and check the YAML against the vendored schemas',
});
// examples/bindings/ holds the Python, Go and Java apps (no cdk8s.yaml): `npx projen bindings:check` runs them.
validate.exec('bash -c \'for d in examples/*/; do [ -f "$d/cdk8s.yaml" ] || continue; (cd "$d" && cdk8s synth --no-check-upgrade) || exit 1; done\'');
validate.exec(`${tsNode} scripts/validate-examples.ts`);
project.gitignore.exclude('/examples/*/dist/', '/bench/results/');
// Python bytecode of the test helpers the runtime tests import (test/runtimes/torchserve/fake-torch).
project.gitignore.exclude('__pycache__/');

// ---- test cluster (test/cluster): a real etcd + kube-apiserver + kube-controller-manager, built from the
// Go modules pinned in test/cluster/go.mod into ~/.cache/cdk8s-model-serving/cluster/<hash of the pins> ----
project.addTask('cluster:build', {
  description: 'Build etcd, kube-apiserver and kube-controller-manager for the test cluster (once per pin change)',
  exec: 'node test/cluster/cli.js build',
});
project.addTask('cluster:up', {
  description: 'Start the test cluster (every CRD in imports/ installed) and print the path of its kubeconfig',
  exec: 'node test/cluster/cli.js up',
});
project.addTask('cluster:down', {
  description: 'Stop the test cluster and remove its data',
  exec: 'node test/cluster/cli.js down',
});
// ---- end test cluster ----

project.eslint?.addIgnorePattern('src/imports/');
project.eslint?.addOverride({
  files: ['src/server/**', 'src/controller/**', 'bench/**', 'test/**', 'examples/**'],
  rules: { 'import/no-extraneous-dependencies': 'off' },
});

// --- Layout (issue 12): one folder per part. No import cycle in src/, and the model server and
// the constructs share only src/contract.ts. test/architecture/layout.test.ts checks the same
// rules and also counts type-only imports, which import/no-cycle skips.
const SERVER_SHARES_ONLY_THE_CONTRACT = 'the model server and the constructs share only src/contract.ts';
project.eslint?.addOverride({
  files: ['src/**/*.ts'],
  rules: {
    'import/no-cycle': ['error', { ignoreExternal: true }],
    'import/no-restricted-paths': ['error', {
      zones: [
        { target: './src/server', from: ['./src/constructs', './src/render', './src/index.ts', './src/kserve', './src/controller'], message: SERVER_SHARES_ONLY_THE_CONTRACT },
        { target: ['./src/constructs', './src/render', './src/index.ts', './src/contract.ts'], from: './src/server', message: SERVER_SHARES_ONLY_THE_CONTRACT },
        // src/contract/ (issue 18): the contract's graph part (spec, validation, conditions), shared like src/contract.ts.
        { target: './src/contract', from: ['./src/server', './src/controller', './src/constructs', './src/render', './src/kserve', './src/index.ts'], message: 'the contract imports nothing but the generated version' },
      ],
    }],
  },
});
// --- end layout

// ---- bindings (issue 19 part 2): the Python, Go and Java apps in examples/bindings/ build the iris example
// against the jsii-pacmak packages and must synthesize the TypeScript example's YAML ----
project.addTask('bindings:check', {
  description: 'Build the Python wheel, Go module and Java jar, synthesize the iris app in each language and compare with TypeScript',
  exec: 'bash scripts/bindings-check.sh',
});
project.gitignore.exclude('/examples/bindings/*/dist/', '/examples/bindings/java/target/');
// A local `npx projen build` (no CI variable) packages through package-all. Here pacmak's own Go and Java builds
// fail (the registries lack cdk8s-core-go, cdk8s-plus-go and org.cdk8s:cdk8s-plus-33), so package-all stays
// JavaScript only, as before the targets; the release workflow runs package:<language> per language, and
// bindings:check builds all three here with its workarounds.
const packageAll = project.tasks.tryFind('package-all');
const packageJs = project.tasks.tryFind('package:js');
if (packageAll && packageJs) {
  packageAll.reset();
  packageAll.spawn(packageJs);
}
// The API reference as Python and Go users write it (jsii-docgen per language), regenerated after every compile
// like API.md (~15 s idle) so it never falls behind the API. Each binding embeds the npm tarball: the
// per-language references stay in the repo, out of the npm package.
project.npmignore?.exclude('/docs/API.python.md', '/docs/API.go.md');
project.addTask('docgen:bindings', {
  description: 'Generate docs/API.python.md and docs/API.go.md from the .jsii manifest',
  exec: 'jsii-docgen -l python -l go -o docs/API',
});
project.postCompileTask.spawn(project.tasks.tryFind('docgen:bindings')!);
// ---- end of bindings ----

project.synth();
