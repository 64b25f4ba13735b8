// The iris example (examples/iris/main.ts) in Go: the same two endpoints, the same YAML.
// `go run .` in this folder writes dist/iris.k8s.yaml; scripts/bindings-check.sh builds the modules
// that go.mod's replace lines point at and compares the YAML with the TypeScript example's.
package main

import (
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdk8s-model-serving/cdk8s-model-serving-go/cdk8smodelserving"
	"github.com/cdk8s-team/cdk8s-core-go/cdk8s/v2"
	"github.com/cdk8s-team/cdk8s-plus-go/cdk8splus33/v2"
)

func NewIrisChart(scope constructs.Construct, id string, props *cdk8s.ChartProps) cdk8s.Chart {
	chart := cdk8s.NewChart(scope, jsii.String(id), props)

	// Credentials for the bucket come from an existing secret: never inline.
	credentials := cdk8splus33.Secret_FromSecretName(chart, jsii.String("Credentials"), jsii.String("model-store-credentials"))

	cdk8smodelserving.NewModelEndpoint(chart, jsii.String("Serverless"), &cdk8smodelserving.ModelEndpointProps{
		Name:               jsii.String("iris"),
		ModelName:          jsii.String("iris"),
		StorageUri:         cdk8smodelserving.StorageUri_S3(jsii.String("models"), jsii.String("iris/iris-logreg.onnx")),
		StorageCredentials: credentials,
		Protocol:           cdk8smodelserving.InferenceProtocol_V2,
		MinReplicas:        jsii.Number(1),
		MaxReplicas:        jsii.Number(5),
		ScaleMetric:        cdk8smodelserving.ScaleMetric_CONCURRENCY,
		ScaleTarget:        jsii.Number(20),
		Timeout:            cdk8s.Duration_Seconds(jsii.Number(30)),
	})

	cdk8smodelserving.NewModelEndpoint(chart, jsii.String("Raw"), &cdk8smodelserving.ModelEndpointProps{
		Name:       jsii.String("iris-raw"),
		ModelName:  jsii.String("iris-raw"),
		Mode:       cdk8smodelserving.DeploymentMode_RAW,
		StorageUri: cdk8smodelserving.StorageUri_Https(jsii.String("https://models.example.com/iris/iris-logreg.onnx")),
		Resources: &cdk8splus33.ContainerResources{
			Cpu: &cdk8splus33.CpuResources{Request: cdk8splus33.Cpu_Millis(jsii.Number(250)), Limit: cdk8splus33.Cpu_Units(jsii.Number(1))},
			Memory: &cdk8splus33.MemoryResources{Request: cdk8s.Size_Mebibytes(jsii.Number(256)), Limit: cdk8s.Size_Mebibytes(jsii.Number(512))},
		},
		MinReplicas:    jsii.Number(2),
		MaxReplicas:    jsii.Number(6),
		ScaleMetric:    cdk8smodelserving.ScaleMetric_CPU,
		ScaleTarget:    jsii.Number(70),
		ScaleDownDelay: cdk8s.Duration_Minutes(jsii.Number(5)),
		Ingress: cdk8smodelserving.EndpointIngress_GatewayApi(&cdk8smodelserving.GatewayApiIngressOptions{
			GatewayName:      jsii.String("public"),
			GatewayNamespace: jsii.String("gateway-system"),
		}),
		Host: jsii.String("iris.models.example.com"),
	})

	return chart
}

func main() {
	app := cdk8s.NewApp(nil)
	NewIrisChart(app, "iris", &cdk8s.ChartProps{Namespace: jsii.String("models")})
	app.Synth()
}
