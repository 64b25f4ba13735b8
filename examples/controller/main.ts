/**
 * The controller, installed, and one custom resource of each kind for it to reconcile.
 * Run `npx cdk8s synth --no-check-upgrade` in this folder, then `kubectl apply -f dist/install.k8s.yaml` (CRDs,
 * controller, webhooks) and, once the controller is ready, `kubectl apply -f dist/models.k8s.yaml`.
 */
import { ApiObject, App, Chart } from 'cdk8s';
// In your own project: import { ModelServingController } from 'cdk8s-model-serving';
import { API_VERSION, RESOURCES } from './resources';
import { ModelServingController } from '../../src';

const app = new App();

// The install: CRDs, RBAC, the controller Deployment, its webhooks (self-signed TLS by default).
const install = new Chart(app, 'install');
new ModelServingController(install, 'Controller');

// What users apply afterwards: plain custom resources (kubectl, Argo CD, Flux).
const models = new Chart(app, 'models', { namespace: 'models' });
for (const r of RESOURCES) {
  new ApiObject(models, r.name, { apiVersion: API_VERSION, kind: r.kind, metadata: { name: r.name }, spec: r.spec });
}

app.synth();
