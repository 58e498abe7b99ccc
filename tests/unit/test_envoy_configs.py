"""Every ready-made Envoy config in envoy/ renders, passes the real `envoy --mode validate` and
keeps the project's invariants: explicit ext_proc message_timeout, buffer limits, LLM-sized
timeouts, the routing header stripped before routing, documented placeholders."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from extproc.envoygen.cli import validate_with_envoy
from extproc.stack.envoy import REPO_ENVOY_DIR, render_envoy
from extproc.stack.up import Stack, StackPorts, free_port
from tests.helpers import EASY_PROMPT, HARD_PROMPT

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(REPO_ENVOY_DIR.glob("*.yaml"))
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}")
SHARED_NAMES = {  # same meaning → same placeholder name in every file (the Stack fills these)
    "ENVOY_LISTEN_PORT",
    "ENVOY_ADMIN_PORT",
    "ROUTER_PORT",
    "TIER_LOW_PORT",
    "TIER_HIGH_PORT",
    "MESSAGE_TIMEOUT",
    "MAX_BODY_BYTES",
}
HCM = "envoy.filters.network.http_connection_manager"
EXT_PROC = "envoy.filters.http.ext_proc"


def _rendered(path: Path, values: dict[str, str] | None = None) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(render_envoy(path, values or {}))
    return loaded


def _managers(config: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for listener in config["static_resources"]["listeners"]:
        for chain in listener["filter_chains"]:
            for network_filter in chain["filters"]:
                if network_filter["name"] == HCM:
                    yield network_filter["typed_config"]


def _routes(hcm: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for vhost in hcm["route_config"]["virtual_hosts"]:
        yield from vhost["routes"]


def _ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def test_the_ready_configs_exist() -> None:
    names = {p.name for p in CONFIGS}
    assert {"two-tier.yaml", "n-tier.yaml", "canary-ab.yaml", "failover.yaml"} <= names
    assert "fail-closed.yaml" in names


@pytest.mark.parametrize("path", CONFIGS, ids=_ids(CONFIGS))
def test_config_passes_envoy_validate(path: Path) -> None:
    ok, tail = validate_with_envoy(render_envoy(path, {}))
    assert ok, f"{path.name}:\n{tail}"


@pytest.mark.parametrize("path", CONFIGS, ids=_ids(CONFIGS))
def test_config_renders_with_the_stack_values(path: Path, tmp_path: Path) -> None:
    stack = Stack(ports=StackPorts.free(), envoy_template=str(path), log_dir=tmp_path)
    config = _rendered(path, stack.envoy_values())
    listener = config["static_resources"]["listeners"][0]
    assert listener["address"]["socket_address"]["port_value"] == stack.ports.listen
    assert config["admin"]["address"]["socket_address"]["port_value"] == stack.ports.envoy_admin


@pytest.mark.parametrize("path", CONFIGS, ids=_ids(CONFIGS))
def test_ext_proc_message_timeout_is_explicit(path: Path) -> None:
    filters = [
        f
        for hcm in _managers(_rendered(path))
        for f in hcm["http_filters"]
        if f["name"] == EXT_PROC
    ]
    assert filters, path.name
    for ext_proc in filters:
        typed = ext_proc["typed_config"]
        assert typed.get("message_timeout"), f"{path.name}: Envoy's default is 200 ms"
        assert typed["processing_mode"]["request_body_mode"] == "BUFFERED"
        assert "failure_mode_allow" in typed


@pytest.mark.parametrize("path", CONFIGS, ids=_ids(CONFIGS))
def test_buffer_limits_are_set(path: Path) -> None:
    config = _rendered(path, {"MAX_BODY_BYTES": "1234567"})
    for listener in config["static_resources"]["listeners"]:
        assert listener["per_connection_buffer_limit_bytes"] == 1234567
    for cluster in config["static_resources"]["clusters"]:
        if "cluster_type" in cluster:  # aggregate clusters hold no connections
            continue
        assert cluster.get("per_connection_buffer_limit_bytes"), cluster["name"]
        if cluster["name"] != "extproc_router":
            assert cluster["per_connection_buffer_limit_bytes"] == 1234567, cluster["name"]


@pytest.mark.parametrize("path", CONFIGS, ids=_ids(CONFIGS))
def test_timeouts_are_sized_for_llm_streams(path: Path) -> None:
    for hcm in _managers(_rendered(path)):
        assert hcm.get("stream_idle_timeout"), path.name
        assert hcm.get("request_timeout") == "0s", path.name
        for route in _routes(hcm):
            action = route.get("route")
            if action is not None:
                assert action.get("timeout"), f"{path.name}: {route['match']}"
                assert int(action["timeout"].rstrip("s")) >= 60


@pytest.mark.parametrize("path", CONFIGS, ids=_ids(CONFIGS))
def test_routing_header_is_stripped_before_routing(path: Path) -> None:
    for hcm in _managers(_rendered(path)):
        routes = list(_routes(hcm))
        routed_on = {
            matcher["name"] for route in routes for matcher in route["match"].get("headers", [])
        }
        if not routed_on:  # fast mode: routes match dynamic metadata, which no client can send
            assert any("dynamic_metadata" in r["match"] for r in routes), path.name
            continue
        removed = {
            mutation["remove"]
            for extension in hcm.get("early_header_mutation_extensions", [])
            for mutation in extension["typed_config"]["mutations"]
            if "remove" in mutation
        }
        assert routed_on <= removed, f"{path.name}: {routed_on - removed} not stripped"


@pytest.mark.parametrize("path", CONFIGS, ids=_ids(CONFIGS))
def test_placeholders_are_shared_and_documented(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    docs = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.md"))
    used = set(PLACEHOLDER.findall(text))
    assert used >= SHARED_NAMES, f"{path.name}: {SHARED_NAMES - used}"
    undocumented = sorted(name for name in used if name not in header and f"`{name}`" not in docs)
    assert not undocumented, f"{path.name}: {undocumented} in neither its header nor docs/*.md"


def test_failover_config_shape() -> None:
    config = _rendered(REPO_ENVOY_DIR / "failover.yaml")
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    for tier, other in (("tier_high", "tier_low"), ("tier_low", "tier_high")):
        aggregate = clusters[f"{tier}_failover"]
        assert aggregate["cluster_type"]["name"] == "envoy.clusters.aggregate"
        assert aggregate["cluster_type"]["typed_config"]["clusters"] == [tier, other]
        assert clusters[tier]["health_checks"][0]["http_health_check"]["path"] == "/health"
        assert clusters[tier]["outlier_detection"]
    (hcm,) = _managers(config)
    vhost = hcm["route_config"]["virtual_hosts"][0]
    policy = vhost["retry_policy"]
    assert set(policy["retry_on"].split(",")) >= {
        "5xx",
        "reset",
        "connect-failure",
        "refused-stream",
    }
    assert policy["per_try_timeout"] and policy["retry_host_predicate"]
    assert all(r["route"]["cluster"].endswith("_failover") for r in vhost["routes"])


def test_fail_closed_config_never_fails_open() -> None:
    config = _rendered(REPO_ENVOY_DIR / "fail-closed.yaml", {"FAILURE_MODE_ALLOW": "true"})
    (hcm,) = _managers(config)
    (ext_proc,) = [f for f in hcm["http_filters"] if f["name"] == EXT_PROC]
    assert ext_proc["typed_config"]["failure_mode_allow"] is False
    refused = [r for r in _routes(hcm) if "direct_response" in r]
    assert {r["match"]["path"] for r in refused} == {"/v1/chat/completions", "/v1/completions"}
    assert all(r["direct_response"]["status"] == 503 for r in refused)


def test_canary_split_bypasses_the_router() -> None:
    (hcm,) = _managers(_rendered(REPO_ENVOY_DIR / "canary-ab.yaml"))
    (split,) = [r for r in _routes(hcm) if "weighted_clusters" in r.get("route", {})]
    assert split["match"]["prefix"] == "/v1/embeddings"
    weights = {c["name"]: c["weight"] for c in split["route"]["weighted_clusters"]["clusters"]}
    assert weights == {"tier_low": 90, "tier_canary": 10}
    assert split["typed_per_filter_config"][EXT_PROC]["disabled"] is True


def test_docs_describe_every_config() -> None:
    doc = (ROOT / "docs" / "envoy-configs.md").read_text(encoding="utf-8")
    for path in CONFIGS:
        assert f"envoy/{path.name}" in doc, path.name


GATEWAY_MANIFESTS = sorted((ROOT / "docs" / "gateways" / "manifests").glob("*.yaml"))


@pytest.mark.parametrize("path", GATEWAY_MANIFESTS, ids=_ids(GATEWAY_MANIFESTS))
def test_gateway_manifests_are_valid_yaml_objects(path: Path) -> None:
    """The manifests cannot be applied here (no cluster); they must at least parse as
    Kubernetes objects."""
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    assert docs, path.name
    for doc in docs:
        assert {"apiVersion", "kind", "metadata"} <= set(doc), f"{path.name}: {doc}"
        assert doc["metadata"].get("name"), path.name


# --- end to end: the ready configs run through the Stack with the router ---------------------

UPSTREAM = """
import asyncio, sys
from extproc.demo.upstream import DemoUpstream, UpstreamSpec

async def main() -> None:
    spec = UpstreamSpec(sys.argv[1], sys.argv[2])
    await DemoUpstream(spec, "127.0.0.1", int(sys.argv[3])).start()
    await asyncio.Event().wait()

asyncio.run(main())
"""


def _chat(prompt: str) -> dict[str, object]:
    return {"model": "auto", "messages": [{"role": "user", "content": prompt}]}


@contextlib.contextmanager
def _third_upstream(tier: str, model: str, log: Path) -> Iterator[int]:
    """One more demo upstream (the Stack runs tier_low and tier_high) on a free port."""
    port = free_port()
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", UPSTREAM, tier, model, str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            time.sleep(0.05)
        yield port
    finally:
        proc.kill()
        proc.wait(5)


def _stack(tmp: Path, template: str, router: dict[str, Any], extra: dict[str, str]) -> Stack:
    config = tmp / "router.yaml"
    config.write_text(yaml.safe_dump(router), encoding="utf-8")
    return Stack(
        ports=StackPorts.free(),
        router_config=str(config),
        envoy_template=template,
        log_dir=tmp / "logs",
        extra_envoy_values=extra,
    )


@pytest.mark.e2e
def test_n_tier_routes_three_tiers_and_rewrites_the_model(tmp_path: Path) -> None:
    router = {
        "routing": {
            "rewrite_model": True,
            "rules": [{"type": "complexity", "above": "tier_high", "below": "tier_mid"}],
        },
        "tiers": {
            "tier_low": {"cluster": "tier_low", "model": "small-model"},
            "tier_mid": {"cluster": "tier_mid", "model": "mid-model"},
            "tier_high": {"cluster": "tier_high", "model": "large-model"},
        },
    }
    with _third_upstream("tier_mid", "mid-model", tmp_path / "mid.log") as mid_port:
        stack = _stack(tmp_path, "n-tier.yaml", router, {"TIER_MID_PORT": str(mid_port)})
        with stack, httpx.Client(base_url=stack.url, timeout=30) as client:
            for prompt, tier, model in (
                (EASY_PROMPT, "tier_mid", "mid-model"),
                (HARD_PROMPT, "tier_high", "large-model"),
            ):
                r = client.post("/v1/chat/completions", json=_chat(prompt))
                assert r.status_code == 200, r.text
                assert r.headers["x-upstream-tier"] == tier
                assert r.headers["x-received-model"] == model
                sent = r.headers["x-received-content-length"]
                assert sent == r.headers["x-received-body-bytes"]  # content-length kept right
            models = client.get("/v1/models")  # not an LLM request: default route
            assert models.headers["x-upstream-tier"] == "tier_low"


@pytest.mark.e2e
def test_canary_router_arm_and_envoy_split(tmp_path: Path) -> None:
    router = {
        "routing": {
            "rules": [
                {"type": "canary", "tier": "tier_canary", "percent": 0, "force_header": "x-canary"},
                {"type": "complexity"},
            ]
        },
        "tiers": {
            "tier_low": {"cluster": "tier_low"},
            "tier_high": {"cluster": "tier_high"},
            "tier_canary": {"cluster": "tier_canary"},
        },
    }
    with _third_upstream("tier_canary", "canary-model", tmp_path / "canary.log") as canary_port:
        extra = {
            "TIER_CANARY_PORT": str(canary_port),
            "SPLIT_STABLE_WEIGHT": "50",
            "SPLIT_CANARY_WEIGHT": "50",
        }
        stack = _stack(tmp_path, "canary-ab.yaml", router, extra)
        with stack, httpx.Client(base_url=stack.url, timeout=30) as client:
            # (1) the router's canary rule picks the arm
            forced = client.post(
                "/v1/chat/completions", json=_chat(EASY_PROMPT), headers={"x-canary": "1"}
            )
            assert forced.headers["x-upstream-tier"] == "tier_canary"
            assert forced.headers["x-route-tier"] == "tier_canary"
            plain = client.post("/v1/chat/completions", json=_chat(EASY_PROMPT))
            assert plain.headers["x-upstream-tier"] == "tier_low"
            # (2) Envoy alone splits /v1/embeddings; ext_proc is not even called
            stat = "http.llm.ext_proc.streams_started"
            before = _envoy_counter(stack, stat)
            seen = []
            for _ in range(40):
                r = client.post("/v1/embeddings", json={"model": "e", "input": "x"})
                seen.append(r.headers["x-upstream-tier"])
                if r.headers["x-upstream-tier"] == "tier_canary":
                    assert r.headers["x-split-cluster"] == "tier_canary"
            assert set(seen) == {"tier_low", "tier_canary"}, seen
            assert _envoy_counter(stack, stat) == before


def _envoy_counter(stack: Stack, name: str) -> int:
    text = httpx.get(f"http://127.0.0.1:{stack.ports.envoy_admin}/stats", timeout=5).text
    for line in text.splitlines():
        key, _, value = line.partition(": ")
        if key == name:
            return int(value)
    return 0


def test_fast_config_sends_request_headers_when_the_rules_read_them() -> None:
    from extproc.config import parse_config
    from extproc.stack.up import envoy_values_for

    assert envoy_values_for(parse_config({"mode": "fast"})) == {}
    ab = parse_config({"mode": "fast", "routing": {"rules": [{
        "type": "ab", "key_header": "x-user-id",
        "arms": {"a": {"tier": "tier_low", "weight": 1}, "b": {"tier": "tier_high", "weight": 1}},
    }]}})
    values = envoy_values_for(ab)
    rendered = render_envoy(REPO_ENVOY_DIR / "fast.yaml", values)
    filters = yaml.safe_load(rendered)["static_resources"]["listeners"][0]["filter_chains"][0][
        "filters"][0]["typed_config"]["http_filters"]
    ext_proc = next(f for f in filters if f["name"] == "envoy.filters.http.ext_proc")
    assert ext_proc["typed_config"]["request_attributes"] == ["request.id", "request.headers"]
    ok, tail = validate_with_envoy(rendered)
    assert ok, tail
