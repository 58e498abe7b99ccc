#!/usr/bin/env bash
# Install (first run) and start the local stack: real Envoy + router + two demo upstreams.
# Extra arguments go to `extproc-router up` (e.g. --port 10080, --config my.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/extproc-router up "$@"
