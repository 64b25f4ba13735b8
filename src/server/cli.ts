// Entry point of the `cdk8s-model-server` binary (placeholder until the server lands).
process.stderr.write('usage: cdk8s-model-server <serve|storage-initializer> [flags]\n');
process.exit(2);
