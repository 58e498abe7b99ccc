"""Shared helpers of the Helm chart tests: paths, the `helm` lookup, rendered objects."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def find_helm() -> str | None:
    """$HELM, then .tools/bin/helm, then helm on PATH: the first that runs."""
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
