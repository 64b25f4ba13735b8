#!/usr/bin/env bash
# Builds the Python wheel, the Go module and the Java jar with jsii-pacmak, builds the iris app of each language
# (examples/bindings/{python,go,java}) against them, synthesizes, and compares the YAML with the TypeScript
# example's (scripts/compare-synth.js: the same objects, parsed). Prints the time of every step.
#
# Caches (outside the repo, like scripts/runtimes-venv.sh), under ${XDG_CACHE_HOME:-~/.cache}/cdk8s-model-serving/:
#   bindings-venv-<hash>  the Python venv with cdk8s and cdk8s-plus-33 from PyPI (examples/bindings/python/requirements.txt)
#   bindings-gomod        the Go module cache (jsii-runtime-go and its dependencies from the Go module proxy)
#   bindings-m2           the Maven repository (cdk8s, constructs, the jsii runtime and Maven's plugins from Maven
#                         Central; cdk8s-plus-33's jar, built here once per version, see below)
# What the registries here do not serve is generated with jsii-pacmak from the npm packages that package.json pins,
# which is what their publishers do: for Go, cdk8s-core-go, cdk8s-plus-go and constructs-go v10.3.0
# (dist/bindings-deps/go); for Java, org.cdk8s:cdk8s-plus-33.
set -euo pipefail
cd "$(dirname "$0")/.."
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20
if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then export PATH="$PATH:/usr/local/go/bin"; fi
cache="${XDG_CACHE_HOME:-$HOME/.cache}/cdk8s-model-serving"
pacmak=node_modules/.bin/jsii-pacmak
ref=examples/iris/dist/iris.k8s.yaml
declare -a timings=()
t0=$(date +%s)
step_start=$t0
step() { # step NAME: closes the running step
  local now; now=$(date +%s)
  timings+=("$(printf '%-28s %4d s' "$1" $((now - step_start)))")
  step_start=$now
}

# The assembly (.jsii) and lib/ the bindings are made from (lib/ is kept: the SDK in lib/sdk/ lives there too).
rm -rf dist/python dist/go dist/java dist/bindings-deps
npx jsii --silence-warnings=reserved-word
step "jsii compile"

# The TypeScript example's YAML: the reference.
(cd examples/iris && npx cdk8s synth --no-check-upgrade >/dev/null)
step "typescript synth"

# ---- Python ----
"$pacmak" --target python
step "pacmak python"
req=examples/bindings/python/requirements.txt
venv="$cache/bindings-venv-$(sha256sum "$req" | cut -c1-12)"
if [ ! -f "$venv/.installed" ]; then # the stamp is written last: a half-made venv is made again
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  touch "$venv/.installed"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check --force-reinstall --no-deps dist/python/*.whl
step "python venv + wheel"
rm -rf examples/bindings/python/dist
(cd examples/bindings/python && "$venv/bin/python" app.py)
step "python synth"

# ---- Go ----
export GOMODCACHE="$cache/bindings-gomod" GOFLAGS=-mod=mod
"$pacmak" --target go --code-only
"$pacmak" --target go --code-only -o dist/bindings-deps node_modules/constructs node_modules/cdk8s node_modules/cdk8s-plus-33
step "pacmak go (+ cdk8s deps)"
rm -rf examples/bindings/go/dist
(cd examples/bindings/go && go build -o ../../../dist/bindings-deps/iris-go . && ../../../dist/bindings-deps/iris-go)
step "go build + synth"

# ---- Java ----
m2="$cache/bindings-m2"
plus_version=$(node -p "require('cdk8s-plus-33/package.json').version")
if [ ! -f "$m2/org/cdk8s/cdk8s-plus-33/$plus_version/cdk8s-plus-33-$plus_version.jar" ]; then
  "$pacmak" --target java -o dist/bindings-deps/plus33 --maven-local-repository "$m2" node_modules/cdk8s-plus-33
  plus="dist/bindings-deps/plus33/java/org/cdk8s/cdk8s-plus-33/$plus_version/cdk8s-plus-33-$plus_version"
  mvn -q -B -Dstyle.color=never -Dmaven.repo.local="$m2" install:install-file -Dfile="$plus.jar" -DpomFile="$plus.pom"
fi
"$pacmak" --target java --maven-local-repository "$m2"
# Maven keeps a release version it has seen: drop ours so the app gets the jar just built.
rm -rf "$m2/io/github/cdk8s-model-serving"
step "pacmak java"
rm -rf examples/bindings/java/dist
(cd examples/bindings/java && mvn -q -B -Dstyle.color=never -Dmaven.repo.local="$m2" compile exec:java)
step "java build + synth"

node scripts/compare-synth.js "$ref" examples/bindings/{python,go,java}/dist/iris.k8s.yaml
step "compare"

# The README's Python and Go examples run too, beside the apps (same venv, same go.mod).
snip=dist/bindings-deps/readme
node scripts/readme-snippets.js "Python, Go and Java" python "$snip/python/app.py"
(cd "$snip/python" && "$venv/bin/python" app.py && grep -q '^kind: Service' dist/*.k8s.yaml)
node scripts/readme-snippets.js "Python, Go and Java" go "$snip/go/main.go"
sed 's#\.\./\.\./\.\./#../../../../#' examples/bindings/go/go.mod > "$snip/go/go.mod"
cp examples/bindings/go/go.sum "$snip/go/"
(cd "$snip/go" && go run . && grep -q '^kind: Service' dist/*.k8s.yaml)
step "readme examples"

printf '%s\n' "${timings[@]}"
echo "bindings:check took $(( $(date +%s) - t0 )) s"
