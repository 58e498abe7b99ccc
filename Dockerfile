# syntax=docker/dockerfile:1
# extproc-router image: the router (`extproc-router serve`) in a non-root, slim Python 3.11.
#
#   docker build -t extproc-router:0.1.0 .
#   docker build -t extproc-router:0.1.0-semantic --build-arg EXTRAS=semantic .
#   (CPU-only torch for the semantic extra:
#    --build-arg PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu)
#
# The install step is the one CI uses (`pip install .` into a venv); the runtime stage gets
# only that venv and the Envoy config templates. The Helm chart (helm/extproc-router) runs
# `extproc-router serve --config /etc/extproc/router.yaml` on this image.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: a venv with the project and its dependencies ---------------------------------
FROM ${PYTHON_IMAGE} AS builder
# "" installs the router; "semantic" adds the semantic extra (pip install ".[semantic]").
ARG EXTRAS=""
ARG PIP_EXTRA_INDEX_URL
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY extproc/ ./extproc/
COPY envoy/ ./envoy/
# $target is this project ("." or ".[EXTRAS]"), not a PyPI name; pyproject.toml bounds its deps.
# hadolint ignore=DL3013
RUN if [ -n "$EXTRAS" ]; then target=".[$EXTRAS]"; else target="."; fi \
 && python -m pip install "$target" \
 && assets="$(python -I -c 'import extproc, pathlib; print(pathlib.Path(extproc.__file__).parent / "assets")')" \
 && mkdir -p "$assets" \
 && cp envoy/*.yaml "$assets/" \
 && python -m compileall -q /opt/venv/lib \
 && python -I -c "import extproc.serve, extproc.wire.server" \
 && extproc-router render-envoy >/dev/null

# --- runtime: python slim + the venv, non-root ---------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="extproc-router" \
      org.opencontainers.image.description="Envoy ext_proc router for OpenAI-style LLM traffic" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 extproc \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin extproc
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY envoy/ ./envoy/
USER 10001:10001
# 50051: gRPC ext_proc (+ gRPC health); 9464: /metrics, /healthz, /readyz
EXPOSE 50051 9464
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["extproc-router"]
# Listen on all interfaces (the built-in default is 127.0.0.1, unreachable from outside the
# container); `docker run IMAGE serve --config FILE` takes the addresses from FILE instead.
CMD ["serve", "--listen", "0.0.0.0:50051", "--admin-listen", "0.0.0.0:9464"]
