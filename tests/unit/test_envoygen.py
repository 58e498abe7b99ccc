"""`extproc.envoygen`: the Envoy config generated from a router config matches it and passes
the real `envoy --mode validate`; an end-to-end run routes through it."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from extproc.config import RouterConfig, load_config, parse_config
from extproc.envoygen import generate_envoy_config, to_yaml
from extproc.envoygen.build import EnvoyGenError, failover_order
from extproc.envoygen.cli import main, validate_with_envoy
from extproc.stack.up import Stack, StackPorts
from tests.helpers import EASY_PROMPT, HARD_PROMPT

pytest.importorskip("envoy_data_plane")

ROOT = Path(__file__).resolve().parents[2]
EXT_PROC = "envoy.filters.http.ext_proc"
TWO = {"tier_low": ["127.0.0.1:8101"], "tier_high": ["127.0.0.1:8102"]}
THREE_TIER: dict[str, Any] = {
    "routing": {
        "header": "x-my-tier",
        "default_tier": "tier_mid",
        "rules": [{"type": "complexity", "above": "tier_high", "below": "tier_low"}],
    },
    "request": {"max_body_bytes": 4 * 1024 * 1024},
    "tiers": {
        "tier_low": {"cluster": "small_pool", "fallback": "tier_mid"},
        "tier_mid": {"cluster": "mid_pool", "fallback": "tier_high"},
        "tier_high": {
            "cluster": "large_pool",
            "fallback": "tier_mid",
            "health_check": {"urls": ["http://10.0.0.9:8000/v1/health"], "interval_s": 2},
        },
    },
}
THREE = {
    "tier_low": ["127.0.0.1:8101"],
    "tier_mid": ["127.0.0.1:8103", "127.0.0.1:8113"],
    "tier_high": ["vllm-large.llm.svc.cluster.local:8000"],
}


def _three() -> RouterConfig:
    return parse_config(THREE_TIER)


def _hcm(config: dict[str, Any]) -> dict[str, Any]:
    (listener,) = config["static_resources"]["listeners"]
    hcm: dict[str, Any] = listener["filter_chains"][0]["filters"][0]["typed_config"]
    return hcm


def _clusters(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in config["static_resources"]["clusters"]}


def _routes(config: dict[str, Any]) -> list[dict[str, Any]]:
    routes: list[dict[str, Any]] = _hcm(config)["route_config"]["virtual_hosts"][0]["routes"]
    return routes


def _header_routes(config: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """tier value → (header name, cluster) of each header-matched route."""
    out = {}
    for route in _routes(config):
        for matcher in route["match"].get("headers", []):
            out[matcher["string_match"]["exact"]] = (matcher["name"], route["route"]["cluster"])
    return out


def _assert_valid(config: dict[str, Any]) -> None:
    ok, tail = validate_with_envoy(to_yaml(config))
    assert ok, tail


CASES: dict[str, tuple[Callable[[], RouterConfig], dict[str, list[str]]]] = {
    "defaults": (lambda: RouterConfig(), TWO),
    "examples/router.yaml": (lambda: load_config(str(ROOT / "examples" / "router.yaml")), TWO),
    "three-tier": (_three, THREE),
}


@pytest.mark.parametrize("failover", [False, True], ids=["plain", "failover"])
@pytest.mark.parametrize("case", list(CASES))
def test_generated_config_passes_envoy_validate(case: str, failover: bool) -> None:
    make, endpoints = CASES[case]
    _assert_valid(generate_envoy_config(make(), endpoints, failover=failover))


@pytest.mark.parametrize("case", list(CASES))
def test_routes_and_clusters_follow_the_tiers(case: str) -> None:
    make, endpoints = CASES[case]
    router = make()
    config = generate_envoy_config(router, endpoints)
    header = router.routing.header
    assert _header_routes(config) == {
        name: (header, tier.cluster) for name, tier in router.tiers.items()
    }
    default = _routes(config)[-1]
    assert "headers" not in default["match"]
    assert default["route"]["cluster"] == router.tiers[router.routing.default_tier].cluster
    assert set(_clusters(config)) == {"extproc_router"} | {t.cluster for t in router.tiers.values()}
    early = _hcm(config)["early_header_mutation_extensions"][0]["typed_config"]["mutations"]
    assert early == [{"remove": header}]


def test_routing_header_follows_routing_header() -> None:
    config = generate_envoy_config(_three(), THREE)
    assert {name for name, _ in _header_routes(config).values()} == {"x-my-tier"}
    assert "x-extproc-tier" not in to_yaml(config)


def test_ext_proc_filter_and_limits_come_from_the_router_config() -> None:
    router = _three()
    config = generate_envoy_config(
        router,
        THREE,
        failure_mode_allow=False,
        message_timeout_s=2.5,
        router_address="10.1.2.3:7000",
    )
    hcm = _hcm(config)
    assert [f["name"] for f in hcm["http_filters"]] == [EXT_PROC, "envoy.filters.http.router"]
    ext_proc = hcm["http_filters"][0]["typed_config"]
    assert ext_proc["failure_mode_allow"] is False
    assert ext_proc["message_timeout"] == "2.500s"
    assert ext_proc["allow_mode_override"] is True
    mode = ext_proc["processing_mode"]
    assert mode["request_header_mode"] == "SEND" and mode["response_header_mode"] == "SEND"
    assert mode["request_body_mode"] == "BUFFERED"
    assert mode.get("response_body_mode", "NONE") == "NONE"
    assert ext_proc["grpc_service"]["envoy_grpc"]["cluster_name"] == "extproc_router"
    limit = router.request.max_body_bytes
    assert config["static_resources"]["listeners"][0]["per_connection_buffer_limit_bytes"] == limit
    clusters = _clusters(config)
    for name in ("small_pool", "mid_pool", "large_pool"):
        assert clusters[name]["per_connection_buffer_limit_bytes"] == limit
    grpc = clusters["extproc_router"]
    assert grpc["per_connection_buffer_limit_bytes"] >= router.server.max_message_bytes
    address = grpc["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
    assert address["socket_address"] == {"address": "10.1.2.3", "port_value": 7000}
    assert hcm["stream_idle_timeout"] == "300s"
    assert all(r["route"]["timeout"] == "300s" for r in _routes(config))


def test_endpoints_and_discovery_types() -> None:
    clusters = _clusters(generate_envoy_config(_three(), THREE))
    assert clusters["small_pool"]["type"] == "STATIC"
    assert clusters["large_pool"]["type"] == "STRICT_DNS"
    hosts = [
        e["endpoint"]["address"]["socket_address"]["port_value"]
        for e in clusters["mid_pool"]["load_assignment"]["endpoints"][0]["lb_endpoints"]
    ]
    assert hosts == [8103, 8113]


def test_failover_aggregates_follow_the_fallback_chain() -> None:
    router = _three()
    assert failover_order(router, "tier_low") == ["small_pool", "mid_pool", "large_pool"]
    assert failover_order(router, "tier_high") == ["large_pool", "mid_pool", "small_pool"]
    config = generate_envoy_config(router, THREE, failover=True, health_interval_s=0.5)
    clusters = _clusters(config)
    for name, tier in router.tiers.items():
        aggregate = clusters[f"{tier.cluster}_failover"]
        assert aggregate["cluster_type"]["typed_config"]["clusters"] == failover_order(router, name)
        assert aggregate["lb_policy"] == "CLUSTER_PROVIDED"
        assert _header_routes(config)[name][1] == f"{tier.cluster}_failover"
    # the router's tiers.<t>.health_check drives Envoy's check of that tier; others: defaults
    (high_check,) = clusters["large_pool"]["health_checks"]
    assert high_check["http_health_check"]["path"] == "/v1/health"
    assert high_check["interval"] == "2s"
    assert clusters["small_pool"]["health_checks"][0]["interval"] == "0.500s"
    assert clusters["small_pool"]["outlier_detection"]["consecutive_gateway_failure"] == 3
    policy = _hcm(config)["route_config"]["virtual_hosts"][0]["retry_policy"]
    assert policy["retry_on"] == "5xx,reset,connect-failure,refused-stream"
    assert policy["retry_priority"]["name"] == "envoy.retry_priorities.previous_priorities"


def test_single_tier_failover_routes_to_the_tier_itself() -> None:
    router = parse_config(
        {
            "tiers": {"only": {"cluster": "only"}},
            "routing": {"default_tier": "only", "rules": []},
        }
    )
    config = generate_envoy_config(router, {"only": ["127.0.0.1:9000"]}, failover=True)
    assert set(_clusters(config)) == {"extproc_router", "only"}
    _assert_valid(config)


@pytest.mark.parametrize(
    ("endpoints", "message"),
    [
        ({"tier_low": ["127.0.0.1:8101"]}, "no endpoints for tiers ['tier_high']"),
        ({**TWO, "tier_gold": ["127.0.0.1:1"]}, "unknown tiers ['tier_gold']"),
        ({**TWO, "tier_low": ["127.0.0.1"]}, "expected HOST:PORT"),
        ({**TWO, "tier_low": ["127.0.0.1:70000"]}, "port out of range"),
    ],
)
def test_bad_endpoints_are_errors(endpoints: dict[str, list[str]], message: str) -> None:
    with pytest.raises(EnvoyGenError, match=message.replace("[", r"\[").replace("]", r"\]")):
        generate_envoy_config(RouterConfig(), endpoints)


def test_fields_unknown_to_xds_protos_are_not_dropped_silently() -> None:
    from envoy.extensions.filters.http.ext_proc.v3 import ext_proc_pb2
    from envoy_data_plane.envoy.config.bootstrap.v3 import Bootstrap
    from envoy_data_plane.envoy.extensions.filters.http.ext_proc.v3 import ExternalProcessor

    from extproc.envoygen.serialize import SerializationDrift, bootstrap_to_dict

    newer = [
        f.name
        for f in dataclasses.fields(ExternalProcessor)
        if f.name not in ext_proc_pb2.ExternalProcessor.DESCRIPTOR.fields_by_name
        and f.type in ("bool", "typing.Optional[bool]")
    ]
    if not newer:
        pytest.skip("xds-protos knows every ExternalProcessor field of envoy-data-plane")
    from envoy_data_plane.envoy.config.bootstrap.v3 import BootstrapStaticResources
    from envoy_data_plane.envoy.config.listener.v3 import Filter, FilterChain, Listener
    from envoy_data_plane.google.protobuf import Any as AnyPb

    hidden = ExternalProcessor()
    setattr(hidden, newer[0], True)  # a field xds-protos does not know
    bootstrap = Bootstrap(
        static_resources=BootstrapStaticResources(
            listeners=[
                Listener(
                    name="x",
                    filter_chains=[
                        FilterChain(filters=[Filter(name="f", typed_config=AnyPb.pack(hidden))])
                    ],
                )
            ]
        )
    )
    with pytest.raises(SerializationDrift):
        bootstrap_to_dict(bootstrap)


def test_to_yaml_round_trips_with_a_header() -> None:
    config = generate_envoy_config(RouterConfig(), TWO)
    text = to_yaml(config, header="line one\nline two")
    assert text.startswith("# line one\n# line two\n")
    assert yaml.safe_load(text) == config


def test_cli_writes_a_valid_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    router = tmp_path / "router.yaml"
    router.write_text(yaml.safe_dump(THREE_TIER), encoding="utf-8")
    out = tmp_path / "envoy.yaml"
    argv = ["envoy-config", "--config", str(router), "--failover", "--validate", "--out", str(out)]
    argv += ["--endpoint", "tier_low=127.0.0.1:8101", "--endpoint", "tier_high=10.0.0.9:8000"]
    argv += ["--endpoint", "tier_mid=127.0.0.1:8103,127.0.0.1:8113", "--listen-port", "10080"]
    assert main(argv) == 0
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# Generated by `extproc-router envoy-config`")
    loaded = yaml.safe_load(text)
    assert (
        loaded["static_resources"]["listeners"][0]["address"]["socket_address"]["port_value"]
        == 10080
    )
    assert "mid_pool_failover" in _clusters(loaded)


# --- mode: fast (the shape of envoy/fast.yaml) ----------------------------------------------

BUFFER = "envoy.filters.http.buffer"
AB_RULE = {
    "type": "ab",
    "key_header": "x-user-id",
    "arms": {"a": {"tier": "tier_low", "weight": 1}, "b": {"tier": "tier_high", "weight": 1}},
}


def _fast(overrides: dict[str, Any] | None = None) -> RouterConfig:
    return parse_config({**(overrides or {}), "mode": "fast"})


FAST_CASES: dict[str, tuple[Callable[[], RouterConfig], dict[str, list[str]]]] = {
    "defaults": (_fast, TWO),
    "three-tier": (lambda: _fast(THREE_TIER), THREE),
    "ab-rule": (lambda: _fast({"routing": {"rules": [AB_RULE]}}), TWO),
}


def _filters(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f["typed_config"] for f in _hcm(config)["http_filters"]}


@pytest.mark.parametrize("failover", [False, True], ids=["plain", "failover"])
@pytest.mark.parametrize("case", list(FAST_CASES))
def test_fast_config_passes_envoy_validate(case: str, failover: bool) -> None:
    make, endpoints = FAST_CASES[case]
    _assert_valid(generate_envoy_config(make(), endpoints, failover=failover))


def test_fast_ext_proc_sends_the_body_only_and_a_buffer_follows() -> None:
    router = _fast(THREE_TIER)
    config = generate_envoy_config(router, THREE, failure_mode_allow=False, message_timeout_s=2.5)
    names = [f["name"] for f in _hcm(config)["http_filters"]]
    assert names == [EXT_PROC, BUFFER, "envoy.filters.http.router"]
    ext_proc = _filters(config)[EXT_PROC]
    assert ext_proc["processing_mode"] == {
        "request_header_mode": "SKIP",
        "request_body_mode": "BUFFERED",
        "response_header_mode": "SKIP",
        "response_body_mode": "NONE",
        "request_trailer_mode": "SKIP",
        "response_trailer_mode": "SKIP",
    }
    assert ext_proc["request_attributes"] == ["request.id"]
    assert ext_proc["metadata_options"] == {"receiving_namespaces": {"untyped": [EXT_PROC]}}
    assert ext_proc["failure_mode_allow"] is False
    assert ext_proc["message_timeout"] == "2.500s"
    assert "allow_mode_override" not in ext_proc
    assert ext_proc["grpc_service"]["envoy_grpc"]["cluster_name"] == "extproc_router"
    assert _filters(config)[BUFFER]["max_request_bytes"] == router.request.max_body_bytes == 4 << 20
    assert config["static_resources"]["listeners"][0]["per_connection_buffer_limit_bytes"] == (
        4 << 20
    )
    assert _filters(generate_envoy_config(_fast(), TWO))[EXT_PROC]["failure_mode_allow"] is True


@pytest.mark.parametrize(
    ("overrides", "attributes"),
    [
        ({}, ["request.id"]),
        ({"routing": {"rules": [AB_RULE]}}, ["request.id", "request.headers"]),
        (
            {"routing": {"rules": [{"type": "canary", "tier": "tier_high", "percent": 5}]}},
            ["request.id", "request.headers"],
        ),
        (
            {"routing": {"trusted_override_header": "x-force-tier"}},
            ["request.id", "request.headers"],
        ),
    ],
    ids=["default", "ab", "canary", "override"],
)
def test_fast_request_attributes_add_headers_only_when_rules_read_them(
    overrides: dict[str, Any], attributes: list[str]
) -> None:
    from extproc.config.warnings import config_warnings, reads_request_headers

    router = _fast(overrides)
    config = generate_envoy_config(router, TWO)
    assert _filters(config)[EXT_PROC]["request_attributes"] == attributes
    assert reads_request_headers(router) == ("request.headers" in attributes)
    assert any("request.headers" in w for w in config_warnings(router)) == (
        "request.headers" in attributes
    )


@pytest.mark.parametrize("case", list(FAST_CASES))
def test_fast_routes_match_dynamic_metadata_per_tier(case: str) -> None:
    make, endpoints = FAST_CASES[case]
    router = make()
    config = generate_envoy_config(router, endpoints)
    routes = _routes(config)
    assert len(routes) == len(router.tiers) + 2
    by_tier = {}
    for route in routes[: len(router.tiers)]:
        match = route["match"]
        assert "headers" not in match
        (matcher,) = match["dynamic_metadata"]
        assert matcher["filter"] == EXT_PROC and matcher["path"] == [{"key": "tier"}]
        by_tier[matcher["value"]["string_match"]["exact"]] = route["route"]["cluster"]
        assert "typed_per_filter_config" not in route
    assert by_tier == {name: tier.cluster for name, tier in router.tiers.items()}
    default_cluster = router.tiers[router.routing.default_tier].cluster
    undecided, other = routes[-2:]
    assert set(undecided["match"]) == {"safe_regex"}
    assert undecided["route"]["cluster"] == default_cluster
    # the LLM regex matches exactly request.paths (Envoy matches the path without its query)
    regex = re.compile(undecided["match"]["safe_regex"]["regex"])
    assert all(r["match"]["safe_regex"] == undecided["match"]["safe_regex"] for r in routes[:-1])
    assert all(regex.fullmatch(path) for path in router.request.paths)
    assert not any(regex.fullmatch(p) for p in ("/v1/models", "/v1/embeddings", "/health"))
    # every other path: default tier, ext_proc and buffer off (never reaches the router)
    assert other["match"] == {"prefix": "/"}
    assert other["route"]["cluster"] == default_cluster
    per_filter = other["typed_per_filter_config"]
    assert per_filter[EXT_PROC]["disabled"] is True
    assert per_filter[EXT_PROC]["@type"].endswith("ext_proc.v3.ExtProcPerRoute")
    assert per_filter[BUFFER]["disabled"] is True
    assert per_filter[BUFFER]["@type"].endswith("buffer.v3.BufferPerRoute")
    assert all(r["route"]["timeout"] == "300s" for r in routes)


def test_fast_llm_paths_follow_request_paths() -> None:
    router = _fast({"request": {"paths": ["/v1/chat/completions", "/openai/v1/responses"]}})
    regex = _routes(generate_envoy_config(router, TWO))[-2]["match"]["safe_regex"]["regex"]
    assert re.fullmatch(regex, "/openai/v1/responses")
    assert not re.fullmatch(regex, "/v1/completions")
    with pytest.raises(EnvoyGenError, match=r"request\.paths is empty"):
        generate_envoy_config(_fast({"request": {"paths": []}}), TWO)


def test_fast_decision_headers_and_access_log_go_to_the_router() -> None:
    config = generate_envoy_config(_fast(), TWO)
    hcm = _hcm(config)
    vhost = hcm["route_config"]["virtual_hosts"][0]
    assert [
        (h["header"]["key"], h["header"]["value"], h["append_action"])
        for h in vhost["response_headers_to_add"]
    ] == [
        (
            "x-route-tier",
            "%DYNAMIC_METADATA(envoy.filters.http.ext_proc:tier)%",
            "OVERWRITE_IF_EXISTS_OR_ADD",
        ),
        (
            "x-route-reason",
            "%DYNAMIC_METADATA(envoy.filters.http.ext_proc:reason)%",
            "OVERWRITE_IF_EXISTS_OR_ADD",
        ),
    ]
    (access_log,) = hcm["access_log"]
    assert access_log["name"] == "envoy.access_loggers.http_grpc"
    typed = access_log["typed_config"]
    assert typed["@type"].endswith("access_loggers.grpc.v3.HttpGrpcAccessLogConfig")
    assert typed["common_config"] == {
        "log_name": "extproc-router",
        "grpc_service": {"envoy_grpc": {"cluster_name": "extproc_router"}},
        "buffer_flush_interval": "0.200s",
        "buffer_size_bytes": 65536,
        "transport_api_version": "V3",
    }
    mutations = hcm["early_header_mutation_extensions"][0]["typed_config"]["mutations"]
    assert mutations == [{"remove": "x-extproc-tier"}, {"remove": "x-extproc-guard"}]


def test_fast_failover_keeps_aggregates_and_retries() -> None:
    router = _fast(THREE_TIER)
    config = generate_envoy_config(router, THREE, failover=True)
    clusters = _clusters(config)
    routes = _routes(config)
    for route, (name, tier) in zip(routes, router.tiers.items(), strict=False):
        assert route["match"]["dynamic_metadata"][0]["value"]["string_match"]["exact"] == name
        assert route["route"]["cluster"] == f"{tier.cluster}_failover"
        assert clusters[f"{tier.cluster}_failover"]["cluster_type"]["typed_config"][
            "clusters"
        ] == failover_order(router, name)
    assert {r["route"]["cluster"] for r in routes[-2:]} == {"mid_pool_failover"}
    vhost = _hcm(config)["route_config"]["virtual_hosts"][0]
    assert vhost["retry_policy"]["retry_on"] == "5xx,reset,connect-failure,refused-stream"
    keys = [h["header"]["key"] for h in vhost["response_headers_to_add"]]
    assert keys == ["x-route-tier", "x-route-reason", "x-served-by"]


def test_full_mode_has_no_fast_mode_parts() -> None:
    config = generate_envoy_config(RouterConfig(), TWO)
    hcm = _hcm(config)
    assert "access_log" not in hcm
    assert BUFFER not in _filters(config)
    assert "request_attributes" not in _filters(config)[EXT_PROC]
    assert not any("dynamic_metadata" in r["match"] for r in _routes(config))


def test_fast_config_keeps_the_shape_of_envoy_fast_yaml() -> None:
    """The generated fast config and the hand-written envoy/fast.yaml must not drift apart."""
    from extproc.stack.envoy import render_envoy

    template: dict[str, Any] = yaml.safe_load(render_envoy(ROOT / "envoy" / "fast.yaml", {}))
    generated = generate_envoy_config(_fast(), TWO)
    want, got = _hcm(template), _hcm(generated)
    assert [f["name"] for f in got["http_filters"]] == [f["name"] for f in want["http_filters"]]
    want_ext, got_ext = _filters(template)[EXT_PROC], _filters(generated)[EXT_PROC]
    for key in ("grpc_service", "processing_mode", "metadata_options", "failure_mode_allow"):
        assert got_ext[key] == want_ext[key], key
    assert set(got_ext["request_attributes"]) <= set(want_ext["request_attributes"])
    assert _filters(generated)[BUFFER] == _filters(template)[BUFFER]

    def shape(route: dict[str, Any]) -> tuple[Any, ...]:
        match = route["match"]
        metadata = [
            (m["filter"], m["path"], sorted(m["value"])) for m in match.get("dynamic_metadata", [])
        ]
        per_filter = {
            name: (cfg["@type"], cfg.get("disabled"))
            for name, cfg in route.get("typed_per_filter_config", {}).items()
        }
        return sorted(match), metadata, per_filter

    want_routes = want["route_config"]["virtual_hosts"][0]["routes"]
    assert [shape(r) for r in _routes(generated)] == [shape(r) for r in want_routes]

    def target(route: dict[str, Any]) -> tuple[str, str, str]:
        tier = [
            m["value"]["string_match"]["exact"] for m in route["match"].get("dynamic_metadata", [])
        ]
        return (tier[0] if tier else "", route["route"]["cluster"], route["route"]["timeout"])

    # tier routes in config order here, in any order there; fallbacks last in both
    got_targets = [target(r) for r in _routes(generated)]
    want_targets = [target(r) for r in want_routes]
    assert sorted(got_targets[:-2]) == sorted(want_targets[:-2])
    assert got_targets[-2:] == want_targets[-2:]
    # the same LLM paths (the default request.paths) as the template's regex
    samples = ["/v1/chat/completions", "/v1/completions", "/v1/models", "/v1/chat", "/"]
    for got_route, want_route in zip(_routes(generated)[:-1], want_routes[:-1], strict=True):
        got_regex = got_route["match"]["safe_regex"]["regex"]
        want_regex = want_route["match"]["safe_regex"]["regex"]
        for path in samples:
            assert bool(re.fullmatch(got_regex, path)) == bool(re.fullmatch(want_regex, path))
    want_vhost = want["route_config"]["virtual_hosts"][0]
    got_vhost = got["route_config"]["virtual_hosts"][0]
    assert [(h["header"], h["append_action"]) for h in got_vhost["response_headers_to_add"]] == [
        (h["header"], h["append_action"]) for h in want_vhost["response_headers_to_add"]
    ]
    (want_log,), (got_log,) = want["access_log"], got["access_log"]
    assert got_log["name"] == want_log["name"]
    want_common = dict(want_log["typed_config"]["common_config"])
    got_common = dict(got_log["typed_config"]["common_config"])
    assert want_common.pop("buffer_flush_interval") == "0.2s"
    assert got_common.pop("buffer_flush_interval") == "0.200s"
    assert got_common == want_common


def test_cli_reports_missing_endpoints(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["envoy-config", "--endpoint", "tier_low=127.0.0.1:8101"]) == 2
    assert "no endpoints for tiers ['tier_high']" in capsys.readouterr().err


def test_cli_reports_config_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("routing: {default_tier: gold}\n", encoding="utf-8")
    assert main(["envoy-config", "--config", str(bad), "--endpoint", "tier_low=1.2.3.4:1"]) == 2
    assert "routing.default_tier" in capsys.readouterr().err


# --- end to end: router + demo upstreams + a real Envoy running the generated config --------



def wait_hosts_healthy(admin_port: int, clusters: set[str], timeout_s: float = 15.0) -> None:
    """Wait (bounded) until Envoy's active health checks report every host of `clusters`
    healthy: a check that ran before an upstream listened would send its traffic to the
    fallback tier."""
    deadline = time.monotonic() + timeout_s
    flags: dict[str, str] = {}
    while time.monotonic() < deadline:
        text = httpx.get(f"http://127.0.0.1:{admin_port}/clusters", timeout=5).text
        flags = {
            line.split("::")[0] + "::" + line.split("::")[1]: line.rsplit("::", 1)[1]
            for line in text.splitlines()
            if "::health_flags::" in line and line.split("::")[0] in clusters
        }
        if flags and all(value == "healthy" for value in flags.values()):
            return
        time.sleep(0.1)
    raise TimeoutError(f"Envoy hosts not healthy: {flags}")


@pytest.fixture(params=["plain", "failover", "fast"])
def generated_stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    failover = request.param == "failover"
    overrides: dict[str, Any] = {"routing": {"header": "x-my-tier"}} if not failover else {}
    if request.param == "fast":
        overrides["mode"] = "fast"
    router_file = tmp_path / "router.yaml"
    router_file.write_text(yaml.safe_dump(overrides), encoding="utf-8")
    ports = StackPorts.free()
    config = generate_envoy_config(
        load_config(str(router_file)),
        {
            "tier_low": [f"127.0.0.1:{ports.tier_low}"],
            "tier_high": [f"127.0.0.1:{ports.tier_high}"],
        },
        listen_port=ports.listen,
        admin_port=ports.envoy_admin,
        router_address=f"127.0.0.1:{ports.router}",
        failover=failover,
        health_interval_s=0.5,
    )
    envoy_file = tmp_path / "generated-envoy.yaml"
    envoy_file.write_text(to_yaml(config), encoding="utf-8")
    stack = Stack(
        ports=ports,
        router_config=str(router_file),
        envoy_template=str(envoy_file),
        log_dir=tmp_path / "logs",
    )
    with stack:
        if failover:
            wait_hosts_healthy(ports.envoy_admin, {"tier_low", "tier_high"})
        yield stack


@pytest.mark.e2e
def test_generated_config_routes_simple_low_and_complex_high(generated_stack: Stack) -> None:
    with httpx.Client(base_url=generated_stack.url, timeout=30) as client:
        for prompt, tier in ((EASY_PROMPT, "tier_low"), (HARD_PROMPT, "tier_high")):
            body = {"model": "auto", "messages": [{"role": "user", "content": prompt}]}
            r = client.post("/v1/chat/completions", json=body, headers={"x-my-tier": "tier_high"})
            assert r.status_code == 200, r.text
            assert r.headers["x-upstream-tier"] == tier
            assert r.headers["x-route-tier"] == tier


@pytest.mark.e2e
@pytest.mark.parametrize("generated_stack", ["fast"], indirect=True)
def test_generated_fast_config_reports_to_the_router(generated_stack: Stack) -> None:
    """Other paths never reach the router; routed requests come back through the access log."""
    from tests.e2e.feedback_util import metric_value, metrics_text, wait_for

    def routed() -> float:
        text = metrics_text(generated_stack)
        return metric_value(text, "extproc_access_log_entries_total", kind="routed")

    with httpx.Client(base_url=generated_stack.url, timeout=30) as client:
        r = client.get("/v1/models")
        assert r.status_code == 200
        assert "x-route-tier" not in r.headers
        before = routed()
        body = {"model": "auto", "messages": [{"role": "user", "content": EASY_PROMPT}]}
        assert client.post("/v1/chat/completions", json=body).headers["x-route-tier"] == "tier_low"
    assert wait_for(lambda: routed() > before, timeout_s=10)
