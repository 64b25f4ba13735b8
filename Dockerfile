# Model server image: `cdk8s-model-server serve` (HTTP 8080, gRPC 8081) and
# `cdk8s-model-server storage-initializer` (init container), from one bundle. The same image
# carries the controller (`cdk8s-model-serving` tool): `node /app/assets/tool/cli.js controller`.
#
#   docker build -t cdk8s-model-server .
#   docker run --rm -p 8080:8080 -p 8081:8081 -v $PWD/test/fixtures/models:/mnt/models:ro \
#     --read-only --tmpfs /tmp cdk8s-model-server serve --mode multi
#   curl localhost:8080/v2/models/iris-logreg/ready
# In multi mode every folder of /mnt/models is a model named after the folder (`iris-logreg`, ...);
# `--model-name` names the one model of single mode and is ignored, with a warning, in multi mode.
#
# Release builds (the release workflow's image job, for linux/amd64 and linux/arm64) pass
# PACKAGE_VERSION: the bundle then reports it (GET /v2, --version) and the image is tagged with it.
# Without it the version is package.json's.
# Runs as 1000:1000 (the constructs' runAsUser) with a read-only root filesystem: the only
# writable paths it needs are /tmp (HOME, TMPDIR) and /mnt/models (storage-initializer target).
# Node 24 LTS, pinned to the release CI also runs the server test suites on (scripts/node24.js).
ARG NODE_IMAGE=node:24.22.3-bookworm-slim

# --- build: bundle the launcher and src/server/cli.ts (and the gRPC proto) into assets/server/ ---
# Runs on the builder's own platform: the bundle is the same JavaScript for every architecture.
FROM --platform=$BUILDPLATFORM ${NODE_IMAGE} AS build
ARG PACKAGE_VERSION
WORKDIR /src
# onnxruntime-node's postinstall downloads CUDA providers; the CPU runtime is in the package.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts/ scripts/
COPY src/ src/
# bundle-server.js stamps src/package-version.ts from package.json (scripts/stamp-version.js).
RUN if [ -n "$PACKAGE_VERSION" ]; then npm pkg set version="$PACKAGE_VERSION"; fi \
 && node scripts/bundle-server.js \
 && node scripts/bundle-tool.js \
 && node -e "const p=require('./package.json');const v=(p.dependencies||{})['onnxruntime-node']||p.devDependencies['onnxruntime-node'];require('fs').writeFileSync('/src/runtime-package.json',JSON.stringify({name:'cdk8s-model-server-runtime',private:true,dependencies:{'onnxruntime-node':v}}))"

# --- runtime deps: a production install of onnxruntime-node only (the native addon), pruned to the
# target architecture's binaries and without its install-only packages (scripts/prune-runtime.js).
# Nothing here runs native code, so it runs on the builder's platform too. ---
FROM --platform=$BUILDPLATFORM ${NODE_IMAGE} AS deps
ARG TARGETARCH
WORKDIR /deps
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY --from=build /src/runtime-package.json package.json
COPY scripts/prune-runtime.js /prune-runtime.js
RUN npm install --omit=dev --ignore-scripts --no-audit --no-fund --no-package-lock \
 && node /prune-runtime.js node_modules "$TARGETARCH" \
 && npm cache clean --force

# --- final image: the bundle plus onnxruntime-node, nothing else ---
FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    HOME=/tmp \
    TMPDIR=/tmp \
    MODEL_DIR=/mnt/models
WORKDIR /app
COPY --from=deps /deps/node_modules/ /app/node_modules/
COPY --from=build /src/assets/server/ /app/
# ---- ctl-core (issue 14): the controller, run as `node /app/assets/tool/cli.js controller` (the
# ModelServingController Deployment's command); it needs no native addon. ----
COPY --from=build /src/assets/tool/ /app/assets/tool/
RUN mkdir -p /mnt/models /app/compile-cache && chown 1000:1000 /mnt/models /app/compile-cache
USER 1000:1000
# Node's compile cache for the bundle, made by the user that runs it (Node keeps one per uid), so
# that a pod's first start reads it from the image (src/server/launcher.ts).
RUN node /app/cli.js --version
EXPOSE 8080 8081
ENTRYPOINT ["node", "/app/cli.js"]
CMD ["serve"]
