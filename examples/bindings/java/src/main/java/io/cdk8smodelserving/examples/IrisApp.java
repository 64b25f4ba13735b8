package io.cdk8smodelserving.examples;

import io.cdk8smodelserving.DeploymentMode;
import io.cdk8smodelserving.EndpointIngress;
import io.cdk8smodelserving.GatewayApiIngressOptions;
import io.cdk8smodelserving.InferenceProtocol;
import io.cdk8smodelserving.ModelEndpoint;
import io.cdk8smodelserving.ScaleMetric;
import io.cdk8smodelserving.StorageUri;
import org.cdk8s.App;
import org.cdk8s.Chart;
import org.cdk8s.ChartProps;
import org.cdk8s.Duration;
import org.cdk8s.Size;
import org.cdk8s.plus33.ContainerResources;
import org.cdk8s.plus33.Cpu;
import org.cdk8s.plus33.CpuResources;
import org.cdk8s.plus33.ISecret;
import org.cdk8s.plus33.MemoryResources;
import org.cdk8s.plus33.Secret;
import software.constructs.Construct;

/**
 * The iris example (examples/iris/main.ts) in Java: the same two endpoints, the same YAML.
 * `mvn -q compile exec:java` in this folder writes dist/iris.k8s.yaml.
 */
public final class IrisApp {
    static final class IrisChart extends Chart {
        IrisChart(final Construct scope, final String id, final ChartProps props) {
            super(scope, id, props);

            // Credentials for the bucket come from an existing secret: never inline.
            ISecret credentials = Secret.fromSecretName(this, "Credentials", "model-store-credentials");

            ModelEndpoint.Builder.create(this, "Serverless")
                    .name("iris")
                    .modelName("iris")
                    .storageUri(StorageUri.s3("models", "iris/iris-logreg.onnx"))
                    .storageCredentials(credentials)
                    .protocol(InferenceProtocol.V2)
                    .minReplicas(1)
                    .maxReplicas(5)
                    .scaleMetric(ScaleMetric.CONCURRENCY)
                    .scaleTarget(20)
                    .timeout(Duration.seconds(30))
                    .build();

            ModelEndpoint.Builder.create(this, "Raw")
                    .name("iris-raw")
                    .modelName("iris-raw")
                    .mode(DeploymentMode.RAW)
                    .storageUri(StorageUri.https("https://models.example.com/iris/iris-logreg.onnx"))
                    .resources(ContainerResources.builder()
                            .cpu(CpuResources.builder().request(Cpu.millis(250)).limit(Cpu.units(1)).build())
                            .memory(MemoryResources.builder()
                                    .request(Size.mebibytes(256)).limit(Size.mebibytes(512)).build())
                            .build())
                    .minReplicas(2)
                    .maxReplicas(6)
                    .scaleMetric(ScaleMetric.CPU)
                    .scaleTarget(70)
                    .scaleDownDelay(Duration.minutes(5))
                    .ingress(EndpointIngress.gatewayApi(GatewayApiIngressOptions.builder()
                            .gatewayName("public").gatewayNamespace("gateway-system").build()))
                    .host("iris.models.example.com")
                    .build();
        }
    }

    private IrisApp() {
    }

    public static void main(final String[] args) {
        App app = new App();
        new IrisChart(app, "iris", ChartProps.builder().namespace("models").build());
        app.synth();
    }
}
