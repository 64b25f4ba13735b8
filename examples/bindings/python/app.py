"""The iris example (examples/iris/main.ts) in Python: the same two endpoints, the same YAML.

Run from this folder with cdk8s, cdk8s-plus-33 and the cdk8s-model-serving wheel installed:
`python app.py` writes dist/iris.k8s.yaml (scripts/bindings-check.sh compares it with the TypeScript example's).
"""
from cdk8s import App, Chart, Duration, Size
from cdk8s_plus_33 import ContainerResources, Cpu, CpuResources, MemoryResources, Secret
from constructs import Construct

from cdk8s_model_serving import (
    DeploymentMode,
    EndpointIngress,
    InferenceProtocol,
    ModelEndpoint,
    ScaleMetric,
    StorageUri,
)


class IrisChart(Chart):
    def __init__(self, scope: Construct, id: str, *, namespace: str | None = None):
        super().__init__(scope, id, namespace=namespace)

        # Credentials for the bucket come from an existing secret: never inline.
        credentials = Secret.from_secret_name(self, "Credentials", "model-store-credentials")

        ModelEndpoint(
            self,
            "Serverless",
            name="iris",
            model_name="iris",
            storage_uri=StorageUri.s3("models", "iris/iris-logreg.onnx"),
            storage_credentials=credentials,
            protocol=InferenceProtocol.V2,
            min_replicas=1,
            max_replicas=5,
            scale_metric=ScaleMetric.CONCURRENCY,
            scale_target=20,
            timeout=Duration.seconds(30),
        )

        ModelEndpoint(
            self,
            "Raw",
            name="iris-raw",
            model_name="iris-raw",
            mode=DeploymentMode.RAW,
            storage_uri=StorageUri.https("https://models.example.com/iris/iris-logreg.onnx"),
            resources=ContainerResources(
                cpu=CpuResources(request=Cpu.millis(250), limit=Cpu.units(1)),
                memory=MemoryResources(request=Size.mebibytes(256), limit=Size.mebibytes(512)),
            ),
            min_replicas=2,
            max_replicas=6,
            scale_metric=ScaleMetric.CPU,
            scale_target=70,
            scale_down_delay=Duration.minutes(5),
            ingress=EndpointIngress.gateway_api(gateway_name="public", gateway_namespace="gateway-system"),
            host="iris.models.example.com",
        )


app = App()
IrisChart(app, "iris", namespace="models")
app.synth()
