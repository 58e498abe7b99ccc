"""The chart's rendered configs, run for real: Envoy with the rendered envoy.yaml, the router
with the rendered router.yaml, and the demo upstreams as the tiers.

Only the bind addresses change (0.0.0.0 → 127.0.0.1, and the router's --listen flags); the
routes, ext_proc filter, header stripping, weighted split and probe listener are the chart's.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import NamedTuple

import httpx
import pytest
import yaml

from extproc.stack.up import HARD_PROMPT, Stack, StackPorts, free_port
from tests.helm.chart_util import RenderFn

pytestmark = pytest.mark.e2e


class ChartStack(NamedTuple):
    stack: Stack
    health_port: int

    @property
    def url(self) -> str:
        return self.stack.url


def chat(text: str) -> dict[str, object]:
    return {"model": "auto", "messages": [{"role": "user", "content": text}]}


@pytest.fixture(scope="module")
def chart_stack(
    render: RenderFn, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ChartStack]:
    tmp = tmp_path_factory.mktemp("chart-stack")
    ports = StackPorts.free()
    health_port = free_port()
    while health_port in vars(ports).values():
        health_port = free_port()
    values = {
        "mode": "sidecar",
        "tiers": [
            {"name": "tier_low", "endpoints": [f"127.0.0.1:{ports.tier_low}"],
             "model": "small-model", "fallback": "tier_high"},
            {"name": "tier_high", "endpoints": [f"127.0.0.1:{ports.tier_high}"],
             "model": "large-model", "fallback": "tier_low"},
            {"name": "tier_high_b", "envoyOnly": True,
             "endpoints": [f"127.0.0.1:{ports.tier_high}"]},
        ],
        "router": {"grpcPort": ports.router, "adminPort": ports.router_admin},
        "envoy": {
            "listenPort": ports.listen,
            "adminPort": ports.envoy_admin,
            "healthPort": health_port,
            "dnsLookupFamily": "V4_ONLY",
            "weightedSplit": {
                "tier_high": {
                    "clusters": [
                        {"cluster": "tier_high", "weight": 1},
                        {"cluster": "tier_high_b", "weight": 99,
                         "responseHeaders": {"x-ab-variant": "b"}},
                    ],
                    "stickyHeader": "x-user-id",
                }
            },
        },
    }
    values_file = tmp / "values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    rendered = render(values_file)
    envoy_text = rendered.config_text("envoy.yaml")
    router_text = rendered.config_text("router.yaml")
    assert envoy_text is not None and router_text is not None
    envoy_file = tmp / "chart-envoy.yaml"
    envoy_file.write_text(envoy_text.replace("address: 0.0.0.0,", "address: 127.0.0.1,"))
    router_file = tmp / "router.yaml"
    router_file.write_text(router_text)
    stack = Stack(
        ports=ports,
        router_config=str(router_file),
        envoy_template=str(envoy_file),
        log_dir=tmp / "logs",
    )
    with stack:
        yield ChartStack(stack, health_port)


def test_routes_by_complexity_through_chart_config(chart_stack: ChartStack) -> None:
    with httpx.Client(base_url=chart_stack.url, timeout=30) as client:
        low = client.post("/v1/chat/completions", json=chat("Hi there!"))
        assert low.status_code == 200, low.text
        assert low.headers["x-route-tier"] == "tier_low"
        assert "x-ab-variant" not in low.headers

        # A client-sent routing header is stripped before routing: the router decides.
        spoofed = client.post(
            "/v1/chat/completions", json=chat("Hi there!"),
            headers={"x-extproc-tier": "tier_high"},
        )
        assert spoofed.headers["x-route-tier"] == "tier_low"


def test_weighted_split_is_sticky_per_user(chart_stack: ChartStack) -> None:
    def variant(client: httpx.Client, user: str) -> str:
        r = client.post(
            "/v1/chat/completions", json=chat(HARD_PROMPT), headers={"x-user-id": user}
        )
        assert r.status_code == 200, r.text
        assert r.headers["x-route-tier"] == "tier_high"
        return str(r.headers.get("x-ab-variant", "a"))

    with httpx.Client(base_url=chart_stack.url, timeout=30) as client:
        assert len({variant(client, "alice") for _ in range(5)}) == 1  # one user, one variant
        # variant b weighs 99 of 100: its clusters' response header reaches the client
        assert "b" in {variant(client, f"user-{i}") for i in range(10)}


def test_probe_listener_exposes_only_ready_and_stats(chart_stack: ChartStack) -> None:
    base = f"http://127.0.0.1:{chart_stack.health_port}"
    with urllib.request.urlopen(f"{base}/ready", timeout=5) as ready:
        assert ready.status == 200
    with urllib.request.urlopen(f"{base}/stats/prometheus", timeout=5) as stats:
        assert b"envoy_" in stats.read()
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(f"{base}/config_dump", timeout=5)
    assert denied.value.code == 404


def test_router_health_endpoints(chart_stack: ChartStack) -> None:
    base = f"http://127.0.0.1:{chart_stack.stack.ports.router_admin}"
    for path in ("/healthz", "/readyz"):
        with urllib.request.urlopen(base + path, timeout=5) as response:
            assert response.status == 200
