"""Build the Envoy bootstrap a router config implies, as typed `envoy-data-plane` objects.

Everything Envoy must agree on with the router comes from the router's own config: tier
names (the routing header's values) and clusters (`tiers.<t>.cluster`), the routing header
(`routing.header`, matched by the routes and stripped by early header mutation), the default
tier (default route), body and gRPC limits (`request.max_body_bytes`,
`server.max_message_bytes`) and, with failover, the fallback order (`tiers.<t>.fallback`) and
health checks (`tiers.<t>.health_check`). Objects are pydantic-validated betterproto2 messages,
so a wrong field name or type fails here, not in Envoy.

`mode: full` gives the shape of envoy/two-tier.yaml (request headers, BUFFERED body and
response headers to the router; routes on the routing header). `mode: fast` gives the shape of
envoy/fast.yaml: one BUFFERED-body message per request (request headers skipped), a buffer
filter that holds the request until the router has answered, routes on the router's dynamic
metadata (`envoy.filters.http.ext_proc:tier`) for the LLM paths (`request.paths`), ext_proc and
the buffer disabled on every other path, `x-route-tier` / `x-route-reason` added from the
metadata, and Envoy's gRPC access-log service reporting each finished request to the router.
"""

from __future__ import annotations

import ipaddress
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import betterproto2

# envoy-data-plane's generated models use a pydantic pattern deprecated since pydantic 2.12;
# the warning is not ours to fix and would fire on every first import.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from envoy_data_plane.envoy.config.accesslog.v3 import AccessLog
    from envoy_data_plane.envoy.config.bootstrap.v3 import (
        Admin,
        Bootstrap,
        BootstrapStaticResources,
    )
    from envoy_data_plane.envoy.config.cluster.v3 import (
        CircuitBreakers,
        CircuitBreakersThresholds,
        Cluster,
        ClusterCustomClusterType,
        ClusterDiscoveryType,
        ClusterLbPolicy,
        OutlierDetection,
    )
    from envoy_data_plane.envoy.config.common.mutation_rules.v3 import (
        HeaderMutation as HeaderMutationEntry,
    )
    from envoy_data_plane.envoy.config.core.v3 import (
        Address,
        ApiVersion,
        GrpcService,
        GrpcServiceEnvoyGrpc,
        HeaderValue,
        HeaderValueOption,
        HeaderValueOptionHeaderAppendAction,
        HealthCheck,
        HealthCheckHttpHealthCheck,
        Http2ProtocolOptions,
        HttpProtocolOptions,
        Node,
        SocketAddress,
        TypedExtensionConfig,
    )
    from envoy_data_plane.envoy.config.endpoint.v3 import (
        ClusterLoadAssignment,
        Endpoint,
        LbEndpoint,
        LocalityLbEndpoints,
    )
    from envoy_data_plane.envoy.config.listener.v3 import Filter, FilterChain, Listener
    from envoy_data_plane.envoy.config.route.v3 import (
        HeaderMatcher,
        RetryPolicy,
        RetryPolicyRetryBackOff,
        RetryPolicyRetryHostPredicate,
        RetryPolicyRetryPriority,
        Route,
        RouteAction,
        RouteConfiguration,
        RouteMatch,
        VirtualHost,
    )
    from envoy_data_plane.envoy.extensions.access_loggers.grpc.v3 import (
        CommonGrpcAccessLogConfig,
        HttpGrpcAccessLogConfig,
    )
    from envoy_data_plane.envoy.extensions.clusters.aggregate.v3 import (
        ClusterConfig as AggregateClusterConfig,
    )
    from envoy_data_plane.envoy.extensions.filters.http.buffer.v3 import Buffer, BufferPerRoute
    from envoy_data_plane.envoy.extensions.filters.http.ext_proc.v3 import (
        ExternalProcessor,
        ExtProcPerRoute,
        MetadataOptions,
        MetadataOptionsMetadataNamespaces,
        ProcessingMode,
        ProcessingModeBodySendMode,
        ProcessingModeHeaderSendMode,
    )
    from envoy_data_plane.envoy.extensions.filters.http.router.v3 import Router
    from envoy_data_plane.envoy.extensions.filters.network.http_connection_manager.v3 import (
        HttpConnectionManager,
        HttpFilter,
    )
    from envoy_data_plane.envoy.extensions.http.early_header_mutation.header_mutation.v3 import (
        HeaderMutation as EarlyHeaderMutation,
    )
    from envoy_data_plane.envoy.extensions.retry.host.previous_hosts.v3 import (
        PreviousHostsPredicate,
    )
    from envoy_data_plane.envoy.extensions.retry.priority.previous_priorities.v3 import (
        PreviousPrioritiesConfig,
    )
    from envoy_data_plane.envoy.extensions.upstreams.http.v3 import (
        HttpProtocolOptions as UpstreamHttpProtocolOptions,
    )
    from envoy_data_plane.envoy.extensions.upstreams.http.v3 import (
        HttpProtocolOptionsExplicitHttpConfig,
    )
    from envoy_data_plane.envoy.type.matcher.v3 import (
        MetadataMatcher,
        MetadataMatcherPathSegment,
        RegexMatcher,
        StringMatcher,
        ValueMatcher,
    )
    from envoy_data_plane.google.protobuf import Any

from extproc.config.model import HealthCheck as RouterHealthCheck
from extproc.config.model import RouterConfig
from extproc.config.warnings import reads_request_headers

ROUTER_CLUSTER = "extproc_router"
EXT_PROC_FILTER = "envoy.filters.http.ext_proc"
BUFFER_FILTER = "envoy.filters.http.buffer"
ACCESS_LOG_NAME = "extproc-router"
GUARD_HEADER = "x-extproc-guard"  # set by the router in full mode only (extproc.wire.responses)
UPSTREAM_HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
RETRY_ON = "5xx,reset,connect-failure,refused-stream"
GRPC_HEADROOM_BYTES = 64 * 1024


class EnvoyGenError(ValueError):
    """The router config and the endpoint mapping cannot make an Envoy config."""


@dataclass(frozen=True)
class GenOptions:
    """Knobs that are Envoy's alone (the rest comes from the router config)."""

    listen_address: str = "127.0.0.1"
    listen_port: int = 10000
    admin_port: int = 9901
    router_address: str = "127.0.0.1:50051"
    failover: bool = False
    failure_mode_allow: bool = True
    message_timeout_s: float = 1.0
    route_timeout_s: float = 300.0
    stream_idle_timeout_s: float = 300.0
    per_try_timeout_s: float = 300.0
    per_try_idle_timeout_s: float = 60.0
    num_retries: int = 2
    health_path: str = "/health"
    health_interval_s: float = 5.0
    access_log_flush_interval_s: float = 0.2
    access_log_buffer_bytes: int = 65536


def _duration(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def parse_host_port(value: str) -> tuple[str, int]:
    """'host:port' or '[v6]:port' → (host, port); raises EnvoyGenError."""
    host, sep, port_text = value.strip().rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise EnvoyGenError(f"expected HOST:PORT, got {value!r}")
    port = int(port_text)
    if not 0 < port < 65536:
        raise EnvoyGenError(f"port out of range in {value!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _socket(host: str, port: int) -> Address:
    return Address(socket_address=SocketAddress(address=host, port_value=port))


def _static_or_dns(name: str, addresses: Sequence[tuple[str, int]]) -> Cluster:
    """A cluster of fixed addresses: STATIC for IP literals, STRICT_DNS when a name must resolve."""
    kind = (
        ClusterDiscoveryType.STATIC
        if all(_is_ip(host) for host, _ in addresses)
        else ClusterDiscoveryType.STRICT_DNS
    )
    endpoints = [LbEndpoint(endpoint=Endpoint(address=_socket(h, p))) for h, p in addresses]
    return Cluster(
        name=name,
        type=kind,
        load_assignment=ClusterLoadAssignment(
            cluster_name=name, endpoints=[LocalityLbEndpoints(lb_endpoints=endpoints)]
        ),
    )


def _typed(name: str, message: betterproto2.Message) -> TypedExtensionConfig:
    return TypedExtensionConfig(name=name, typed_config=Any.pack(message))


def router_cluster(config: RouterConfig, options: GenOptions) -> Cluster:
    """The gRPC cluster Envoy's ext_proc filter calls (HTTP/2, big enough for one body)."""
    host, port = parse_host_port(options.router_address)
    cluster = _static_or_dns(ROUTER_CLUSTER, [(host, port)])
    cluster.connect_timeout = _duration(1)
    cluster.per_connection_buffer_limit_bytes = max(
        config.server.max_message_bytes, config.request.max_body_bytes + GRPC_HEADROOM_BYTES
    )
    http2 = UpstreamHttpProtocolOptions(
        explicit_http_config=HttpProtocolOptionsExplicitHttpConfig(
            http2_protocol_options=Http2ProtocolOptions(
                initial_stream_window_size=16 * 1024 * 1024,
                initial_connection_window_size=32 * 1024 * 1024,
            )
        )
    )
    cluster.typed_extension_protocol_options = {UPSTREAM_HTTP_OPTIONS: Any.pack(http2)}
    cluster.circuit_breakers = CircuitBreakers(
        thresholds=[
            CircuitBreakersThresholds(
                max_connections=100_000, max_pending_requests=100_000, max_requests=100_000
            )
        ]
    )
    return cluster


def _health_check(check: RouterHealthCheck | None, options: GenOptions) -> HealthCheck:
    """Envoy's active check of a tier: the router's tiers.<t>.health_check when set."""
    path, interval, timeout = options.health_path, options.health_interval_s, 1.0
    unhealthy, healthy = 2, 2
    if check is not None:
        path = urlsplit(check.urls[0]).path or "/"
        interval, timeout = check.interval_s, check.timeout_s
        unhealthy, healthy = check.unhealthy_after, check.healthy_after
    return HealthCheck(
        timeout=_duration(timeout),
        interval=_duration(interval),
        no_traffic_interval=_duration(interval),
        unhealthy_threshold=unhealthy,
        healthy_threshold=healthy,
        http_health_check=HealthCheckHttpHealthCheck(path=path),
    )


def tier_clusters(
    config: RouterConfig, endpoints: Mapping[str, Sequence[str]], options: GenOptions
) -> list[Cluster]:
    """One cluster per distinct tiers.<t>.cluster, with the endpoints given for its tiers."""
    unknown = sorted(set(endpoints) - set(config.tiers))
    if unknown:
        raise EnvoyGenError(
            f"endpoints for unknown tiers {unknown} (known: {sorted(config.tiers)})"
        )
    missing = sorted(t for t in config.tiers if not endpoints.get(t))
    if missing:
        raise EnvoyGenError(
            f"no endpoints for tiers {missing}: pass --endpoint TIER=HOST:PORT for each tier"
        )
    by_cluster: dict[str, list[tuple[str, int]]] = {}
    checks: dict[str, RouterHealthCheck | None] = {}
    for name, tier in config.tiers.items():
        addresses = by_cluster.setdefault(tier.cluster, [])
        for value in endpoints[name]:
            address = parse_host_port(value)
            if address not in addresses:
                addresses.append(address)
        checks.setdefault(tier.cluster, tier.health_check)
    if ROUTER_CLUSTER in by_cluster:
        raise EnvoyGenError(f"tier cluster name {ROUTER_CLUSTER!r} is reserved for the router")
    clusters = []
    for name, addresses in by_cluster.items():
        cluster = _static_or_dns(name, addresses)
        cluster.connect_timeout = _duration(2)
        cluster.per_connection_buffer_limit_bytes = config.request.max_body_bytes
        if options.failover:
            cluster.health_checks = [_health_check(checks[name], options)]
            cluster.outlier_detection = OutlierDetection(
                consecutive_5xx=5,
                consecutive_gateway_failure=3,
                enforcing_consecutive_gateway_failure=100,
                interval=_duration(5),
                base_ejection_time=_duration(30),
                max_ejection_percent=100,
            )
            cluster.circuit_breakers = CircuitBreakers(
                thresholds=[CircuitBreakersThresholds(max_retries=1024)]
            )
        clusters.append(cluster)
    return clusters


def failover_order(config: RouterConfig, tier: str) -> list[str]:
    """Clusters to try for `tier`: its own, then its fallback chain (tiers.<t>.fallback), then
    the remaining tiers in config order, the order the router itself falls back in."""
    order: list[str] = []
    seen: set[str] = set()
    current: str | None = tier
    while current is not None and current not in seen:
        seen.add(current)
        order.append(config.tiers[current].cluster)
        current = config.tiers[current].fallback
    for name, other in config.tiers.items():
        if name not in seen:
            order.append(other.cluster)
    return list(dict.fromkeys(order))


def aggregate_name(cluster: str) -> str:
    return f"{cluster}_failover"


def aggregate_clusters(config: RouterConfig) -> dict[str, Cluster]:
    """tier → aggregate cluster [own cluster, fallbacks…] (tiers with no other cluster: none)."""
    result: dict[str, Cluster] = {}
    for name in config.tiers:
        order = failover_order(config, name)
        if len(order) < 2:
            continue
        result[name] = Cluster(
            name=aggregate_name(order[0]),
            connect_timeout=_duration(1),
            lb_policy=ClusterLbPolicy.CLUSTER_PROVIDED,
            cluster_type=ClusterCustomClusterType(
                name="envoy.clusters.aggregate",
                typed_config=Any.pack(AggregateClusterConfig(clusters=order)),
            ),
            circuit_breakers=CircuitBreakers(
                thresholds=[CircuitBreakersThresholds(max_retries=1024)]
            ),
        )
    return result


def retry_policy(options: GenOptions) -> RetryPolicy:
    """Retries that move to another host (previous_hosts) and another cluster of an aggregate
    (previous_priorities) — a failed try lands on the fallback tier."""
    return RetryPolicy(
        retry_on=RETRY_ON,
        num_retries=options.num_retries,
        per_try_timeout=_duration(options.per_try_timeout_s),
        per_try_idle_timeout=_duration(options.per_try_idle_timeout_s),
        retry_back_off=RetryPolicyRetryBackOff(
            base_interval=_duration(0.025), max_interval=_duration(0.25)
        ),
        retry_priority=RetryPolicyRetryPriority(
            name="envoy.retry_priorities.previous_priorities",
            typed_config=Any.pack(PreviousPrioritiesConfig(update_frequency=1)),
        ),
        retry_host_predicate=[
            RetryPolicyRetryHostPredicate(
                name="envoy.retry_host_predicates.previous_hosts",
                typed_config=Any.pack(PreviousHostsPredicate()),
            )
        ],
        host_selection_retry_max_attempts=5,
    )


def routes(config: RouterConfig, targets: Mapping[str, str], options: GenOptions) -> list[Route]:
    """One route per tier (routing header == tier name) and the default route."""
    if config.mode == "fast":
        return fast_routes(config, targets, options)
    timeout = _duration(options.route_timeout_s)
    result = [
        Route(
            match=RouteMatch(
                prefix="/",
                headers=[
                    HeaderMatcher(
                        name=config.routing.header, string_match=StringMatcher(exact=name)
                    )
                ],
            ),
            route=RouteAction(cluster=targets[name], timeout=timeout),
        )
        for name in config.tiers
    ]
    default = targets[config.routing.default_tier]
    result.append(
        Route(match=RouteMatch(prefix="/"), route=RouteAction(cluster=default, timeout=timeout))
    )
    return result


def llm_path_regex(config: RouterConfig) -> str:
    """RE2 matching exactly the LLM paths (`request.paths`); Envoy matches a route's safe_regex
    against the whole path without its query string, as the router reads it."""
    if not config.request.paths:
        raise EnvoyGenError(
            "request.paths is empty: in mode: fast no request would reach the router"
        )
    return "^(?:" + "|".join(re.escape(path) for path in config.request.paths) + ")$"


def tier_metadata_matcher(tier: str) -> MetadataMatcher:
    """Dynamic metadata envoy.filters.http.ext_proc:tier == `tier` (the router's decision)."""
    return MetadataMatcher(
        filter=EXT_PROC_FILTER,
        path=[MetadataMatcherPathSegment(key="tier")],
        value=ValueMatcher(string_match=StringMatcher(exact=tier)),
    )


def fast_routes(
    config: RouterConfig, targets: Mapping[str, str], options: GenOptions
) -> list[Route]:
    """Fast mode: on the LLM paths one route per tier matching the router's dynamic metadata,
    then the undecided LLM route (before the decision, and fail-open) to the default tier;
    every other path goes to the default tier with ext_proc and the buffer disabled, so only
    LLM calls reach the router."""
    timeout = _duration(options.route_timeout_s)
    llm = RegexMatcher(regex=llm_path_regex(config))
    default = targets[config.routing.default_tier]
    result = [
        Route(
            match=RouteMatch(safe_regex=llm, dynamic_metadata=[tier_metadata_matcher(name)]),
            route=RouteAction(cluster=targets[name], timeout=timeout),
        )
        for name in config.tiers
    ]
    result.append(
        Route(match=RouteMatch(safe_regex=llm), route=RouteAction(cluster=default, timeout=timeout))
    )
    result.append(
        Route(
            match=RouteMatch(prefix="/"),
            route=RouteAction(cluster=default, timeout=timeout),
            typed_per_filter_config={
                EXT_PROC_FILTER: Any.pack(ExtProcPerRoute(disabled=True)),
                BUFFER_FILTER: Any.pack(BufferPerRoute(disabled=True)),
            },
        )
    )
    return result


def fast_request_attributes(config: RouterConfig) -> list[str]:
    """What the fast mode's single message carries besides the body: the request id (the access
    log's key back to the decision), and the header map only when routing reads headers."""
    attributes = ["request.id"]
    if reads_request_headers(config):
        attributes.append("request.headers")
    return attributes


def ext_proc_filter(config: RouterConfig, options: GenOptions) -> HttpFilter:
    """The router as ext_proc. Full mode: request headers + BUFFERED body + response headers;
    the router switches the response body on per response (allow_mode_override). Fast mode:
    the BUFFERED body only (request headers skipped, no response messages); the answer comes
    back as dynamic metadata in EXT_PROC_FILTER."""
    fast = config.mode == "fast"
    send, skip = ProcessingModeHeaderSendMode.SEND, ProcessingModeHeaderSendMode.SKIP
    processor = ExternalProcessor(
        grpc_service=GrpcService(envoy_grpc=GrpcServiceEnvoyGrpc(cluster_name=ROUTER_CLUSTER)),
        failure_mode_allow=options.failure_mode_allow,
        message_timeout=_duration(options.message_timeout_s),
        processing_mode=ProcessingMode(
            request_header_mode=skip if fast else send,
            request_body_mode=ProcessingModeBodySendMode.BUFFERED,
            response_header_mode=skip if fast else send,
            response_body_mode=ProcessingModeBodySendMode.NONE,
            request_trailer_mode=skip,
            response_trailer_mode=skip,
        ),
    )
    if fast:
        processor.request_attributes = fast_request_attributes(config)
        processor.metadata_options = MetadataOptions(
            receiving_namespaces=MetadataOptionsMetadataNamespaces(untyped=[EXT_PROC_FILTER])
        )
    else:
        processor.allow_mode_override = True
    return HttpFilter(name=EXT_PROC_FILTER, typed_config=Any.pack(processor))


def buffer_filter(config: RouterConfig) -> HttpFilter:
    """Fast mode: holds the whole request (up to request.max_body_bytes) until ext_proc has
    answered, so the route is picked after the router's decision."""
    return HttpFilter(
        name=BUFFER_FILTER,
        typed_config=Any.pack(Buffer(max_request_bytes=config.request.max_body_bytes)),
    )


def router_access_log(options: GenOptions) -> AccessLog:
    """Fast mode: Envoy's gRPC access-log service streams each finished request (status,
    duration, upstream, time to first upstream byte, dynamic metadata) to the router."""
    return AccessLog(
        name="envoy.access_loggers.http_grpc",
        typed_config=Any.pack(
            HttpGrpcAccessLogConfig(
                common_config=CommonGrpcAccessLogConfig(
                    log_name=ACCESS_LOG_NAME,
                    transport_api_version=ApiVersion.V3,
                    grpc_service=GrpcService(
                        envoy_grpc=GrpcServiceEnvoyGrpc(cluster_name=ROUTER_CLUSTER)
                    ),
                    buffer_flush_interval=_duration(options.access_log_flush_interval_s),
                    buffer_size_bytes=options.access_log_buffer_bytes,
                )
            )
        ),
    )


def _from_metadata(header: str, key: str) -> HeaderValueOption:
    return HeaderValueOption(
        header=HeaderValue(key=header, value=f"%DYNAMIC_METADATA({EXT_PROC_FILTER}:{key})%"),
        append_action=HeaderValueOptionHeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD,
        keep_empty_value=False,
    )


def connection_manager(
    config: RouterConfig, targets: Mapping[str, str], options: GenOptions
) -> HttpConnectionManager:
    fast = config.mode == "fast"
    virtual_host = VirtualHost(name="llm", domains=["*"], routes=routes(config, targets, options))
    if fast:  # the client sees the decision, read back from the router's metadata
        virtual_host.response_headers_to_add = [
            _from_metadata("x-route-tier", "tier"),
            _from_metadata("x-route-reason", "reason"),
        ]
    if options.failover:
        virtual_host.retry_policy = retry_policy(options)
        virtual_host.response_headers_to_add.append(
            HeaderValueOption(header=HeaderValue(key="x-served-by", value="%UPSTREAM_HOST%"))
        )
    removed = [config.routing.header]
    if fast:  # the router never sets the guard header in fast mode: any copy is the client's
        removed.append(GUARD_HEADER)
    strip = EarlyHeaderMutation(mutations=[HeaderMutationEntry(remove=h) for h in removed])
    if fast:
        http_filters = [ext_proc_filter(config, options), buffer_filter(config)]
    else:
        http_filters = [ext_proc_filter(config, options)]
    http_filters.append(
        HttpFilter(name="envoy.filters.http.router", typed_config=Any.pack(Router()))
    )
    return HttpConnectionManager(
        stat_prefix="llm",
        stream_idle_timeout=_duration(options.stream_idle_timeout_s),
        request_timeout=_duration(0),
        common_http_protocol_options=HttpProtocolOptions(idle_timeout=_duration(3600)),
        early_header_mutation_extensions=[
            _typed("envoy.http.early_header_mutation.header_mutation", strip)
        ],
        access_log=[router_access_log(options)] if fast else [],
        route_config=RouteConfiguration(name="llm_routes", virtual_hosts=[virtual_host]),
        http_filters=http_filters,
    )


def build_bootstrap(
    config: RouterConfig, endpoints: Mapping[str, Sequence[str]], options: GenOptions
) -> Bootstrap:
    """The whole Envoy bootstrap (typed) for `config`."""
    clusters = [router_cluster(config, options), *tier_clusters(config, endpoints, options)]
    targets = {name: tier.cluster for name, tier in config.tiers.items()}
    if options.failover:
        tier_cluster_names = {t.cluster for t in config.tiers.values()}
        added: dict[str, Cluster] = {}
        for tier, aggregate in aggregate_clusters(config).items():
            targets[tier] = aggregate.name
            if aggregate.name in tier_cluster_names:
                raise EnvoyGenError(f"cluster name {aggregate.name!r} clashes with a tier cluster")
            previous = added.get(aggregate.name)
            if previous is None:
                added[aggregate.name] = aggregate
                clusters.append(aggregate)
            elif previous != aggregate:  # tiers sharing a cluster must share a fallback order
                raise EnvoyGenError(
                    f"tiers sharing cluster {config.tiers[tier].cluster!r} have different "
                    "fallback orders; give them the same tiers.<t>.fallback"
                )
    hcm = connection_manager(config, targets, options)
    listen_host, listen_port = options.listen_address, options.listen_port
    listener = Listener(
        name="llm",
        address=_socket(listen_host, listen_port),
        per_connection_buffer_limit_bytes=config.request.max_body_bytes,
        filter_chains=[
            FilterChain(
                filters=[
                    Filter(
                        name="envoy.filters.network.http_connection_manager",
                        typed_config=Any.pack(hcm),
                    )
                ]
            )
        ],
    )
    return Bootstrap(
        node=Node(id="extproc-router", cluster="extproc-router"),
        admin=Admin(address=_socket("127.0.0.1", options.admin_port)),
        static_resources=BootstrapStaticResources(listeners=[listener], clusters=clusters),
    )
