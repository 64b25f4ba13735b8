module github.com/cdk8s-model-serving/cdk8s-model-serving/examples/bindings/go

go 1.26.0

require (
	github.com/aws/constructs-go/constructs/v10 v10.3.0
	github.com/aws/jsii-runtime-go v1.140.0
	github.com/cdk8s-model-serving/cdk8s-model-serving-go/cdk8smodelserving v0.0.0
	github.com/cdk8s-team/cdk8s-core-go/cdk8s/v2 v2.70.0
	github.com/cdk8s-team/cdk8s-plus-go/cdk8splus33/v2 v2.5.57
)

require (
	github.com/Masterminds/semver/v3 v3.5.0 // indirect
	github.com/fatih/color v1.19.0 // indirect
	github.com/mattn/go-colorable v0.1.14 // indirect
	github.com/mattn/go-isatty v0.0.24 // indirect
	github.com/yuin/goldmark v1.7.16 // indirect
	golang.org/x/lint v0.0.0-20241112194109-818c5a804067 // indirect
	golang.org/x/mod v0.41.0 // indirect
	golang.org/x/sync v0.23.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
	golang.org/x/telemetry v0.0.0-20260908163034-4bcc4b2ee518 // indirect
	golang.org/x/tools v0.50.0 // indirect
	golang.org/x/tools/cmd/godoc v0.1.0-deprecated // indirect
	golang.org/x/tools/godoc v0.1.0-deprecated // indirect
)

// Our module: jsii-pacmak's output (npx projen package:go, or scripts/bindings-check.sh).
replace github.com/cdk8s-model-serving/cdk8s-model-serving-go/cdk8smodelserving => ../../../dist/go/cdk8smodelserving

// The Go module proxy serves neither cdk8s-core-go nor cdk8s-plus-go, nor constructs-go v10.3.0: the check
// generates them with jsii-pacmak from the same npm packages the TypeScript example uses (package.json pins).
replace github.com/aws/constructs-go/constructs/v10 => ../../../dist/bindings-deps/go/constructs

replace github.com/cdk8s-team/cdk8s-core-go/cdk8s/v2 => ../../../dist/bindings-deps/go/cdk8s

replace github.com/cdk8s-team/cdk8s-plus-go/cdk8splus33/v2 => ../../../dist/bindings-deps/go/cdk8splus33

// jsii-pacmak 1.140.0 (the newest on npm here) writes jsii-runtime-go v1.140.0, which the proxy does not serve;
// v1.141.0 is the next one it does, and the runtime is compatible within 1.x.
replace github.com/aws/jsii-runtime-go v1.140.0 => github.com/aws/jsii-runtime-go v1.141.0
