"""Generate the Envoy config a router config implies (`extproc-router envoy-config`).

`generate_envoy_config(router_config, endpoints)` returns the bootstrap as a dict; `to_yaml`
writes it. The typed objects come from `envoy-data-plane` (see `extproc.envoygen.build`);
importing them takes about a second, so it happens on first use, not at CLI start-up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from extproc.config.model import RouterConfig

__all__ = ["generate_envoy_config", "to_yaml"]


def generate_envoy_config(
    router_config: RouterConfig,
    endpoints: Mapping[str, Sequence[str]],
    *,
    listen_port: int = 10000,
    admin_port: int = 9901,
    router_address: str = "127.0.0.1:50051",
    failover: bool = False,
    listen_address: str = "127.0.0.1",
    failure_mode_allow: bool = True,
    message_timeout_s: float = 1.0,
    route_timeout_s: float = 300.0,
    health_interval_s: float = 5.0,
) -> dict[str, Any]:
    """The Envoy bootstrap for `router_config`, as a dict ready for YAML or JSON.

    `router_config.mode` picks the shape: full (envoy/two-tier.yaml) or fast (envoy/fast.yaml).
    `endpoints` maps every tier name to its upstreams ("host:port"; IPs give STATIC clusters,
    names STRICT_DNS). With `failover`, each tier routes to an aggregate cluster
    [tier, fallbacks…] with retries, active health checks and outlier detection.
    Raises `EnvoyGenError` (a ValueError) for missing or unknown tiers and bad addresses.
    """
    from extproc.envoygen.build import GenOptions, build_bootstrap
    from extproc.envoygen.serialize import bootstrap_to_dict

    options = GenOptions(
        listen_address=listen_address,
        listen_port=listen_port,
        admin_port=admin_port,
        router_address=router_address,
        failover=failover,
        failure_mode_allow=failure_mode_allow,
        message_timeout_s=message_timeout_s,
        route_timeout_s=route_timeout_s,
        health_interval_s=health_interval_s,
    )
    config = bootstrap_to_dict(build_bootstrap(router_config, endpoints, options))
    _spell_out_ext_proc(config)
    return config


def _spell_out_ext_proc(config: dict[str, Any]) -> None:
    """Proto3 JSON omits default values; say `failure_mode_allow: false` and the NONE response
    body mode out loud in the ext_proc filter, where a reader looks for them."""
    for listener in config.get("static_resources", {}).get("listeners", []):
        for chain in listener.get("filter_chains", []):
            for network_filter in chain.get("filters", []):
                hcm = network_filter.get("typed_config", {})
                for http_filter in hcm.get("http_filters", []):
                    if http_filter.get("name") != "envoy.filters.http.ext_proc":
                        continue
                    typed = http_filter["typed_config"]
                    typed.setdefault("failure_mode_allow", False)
                    typed.setdefault("processing_mode", {}).setdefault("response_body_mode", "NONE")


def to_yaml(config: Mapping[str, Any], header: str | None = None) -> str:
    """YAML text of a generated config, keys in Envoy's order, with an optional # header."""
    text = yaml.safe_dump(dict(config), sort_keys=False, default_flow_style=False, width=100)
    if header:
        comment = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
        return comment + text
    return text
