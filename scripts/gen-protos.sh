#!/usr/bin/env bash
# Compile protos/ with grpcio-tools into the package (extproc/api/...). OUT overrides the
# output root (tests compile into a temp dir and compare).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-.}"
PY="${PYTHON:-.venv/bin/python}"
mapfile -t files < <(find protos -name '*.proto' | sort)
"$PY" -m grpc_tools.protoc -Iprotos --python_out="$OUT" --pyi_out="$OUT" \
  --grpc_python_out="$OUT" "${files[@]}"
for dir in $(cd protos && find . -name '*.proto' -exec dirname {} \; | sort -u); do
  d="$OUT/$dir"
  while [ "$d" != "$OUT" ] && [ "$d" != "$OUT/." ]; do
    [ -f "$d/__init__.py" ] || : > "$d/__init__.py"
    d=$(dirname "$d")
  done
done
