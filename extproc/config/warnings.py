"""Non-fatal config findings: combinations that work but not as a user may expect."""

from __future__ import annotations

from extproc.config.model import RouterConfig


def reads_request_headers(config: RouterConfig) -> bool:
    """Whether routing reads request headers (the trusted override header, `ab` or `canary`
    rules): the fast mode then needs `request.headers` in ext_proc's request_attributes."""
    return bool(config.routing.trusted_override_header) or any(
        getattr(rule, "type", "") in ("ab", "canary") for rule in config.routing.rules
    )


def config_warnings(config: RouterConfig) -> list[str]:
    """Human-readable warnings; `extproc-router validate` prints them."""
    out: list[str] = []
    if config.mode == "fast":
        if config.observe.response_body == "all":
            out.append(
                "observe.response_body: the fast mode sends no response messages; SSE time to "
                "first token, per-token time and token usage need mode: full (status, "
                "duration and time to first byte still arrive through the access log)"
            )
        if config.observe.inject_stream_usage:
            out.append("observe.inject_stream_usage: usage chunks are only read in mode: full")
        if config.cache.enabled:
            out.append(
                "cache: answers are stored from responses the router reads; in mode: fast "
                "the cache never fills (lookups still run). Use mode: full"
            )
        if config.guard.enabled and "annotate" in (
            config.guard.pii_action, config.guard.secret_action, config.guard.jailbreak_action
        ):
            out.append(
                "guard: the 'annotate' action adds a request header, which the fast mode "
                "cannot do (header mutations in a body response are dropped); block and "
                "private work"
            )
        if reads_request_headers(config):
            out.append(
                "routing: rules that read request headers (override, ab, canary) need those "
                "headers in the fast mode's request_attributes (add request.headers to "
                "FAST_ATTRIBUTES in envoy/fast.yaml; `extproc-router up` and `envoy-config` "
                "add it; it costs a larger message)"
            )
        if any(getattr(rule, "type", "") == "load" and rule.max_in_flight  # type: ignore[union-attr]
               for rule in config.routing.rules):
            out.append("load.max_in_flight: in-flight counts need response messages (mode: full)")
    return out
