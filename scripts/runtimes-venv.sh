#!/usr/bin/env bash
# Creates (once per version of test/runtimes/requirements.txt) the Python venv with the model servers the
# real-process runtime tests start, outside the repo, and prints its path. A no-op when it exists.
set -euo pipefail
cd "$(dirname "$0")/.."
req=test/runtimes/requirements.txt
hash=$(sha256sum "$req" | cut -c1-12)
venv="${XDG_CACHE_HOME:-$HOME/.cache}/cdk8s-model-serving/venv-runtimes-$hash"
# The stamp is written last: a venv whose install died half-way is made again.
if [ ! -f "$venv/.installed" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2
  touch "$venv/.installed"
fi
echo "$venv"
