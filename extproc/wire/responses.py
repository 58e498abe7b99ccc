"""ext_proc response builders. Fixed responses are built once; per-tier ones are cached.

Serializing a pre-built protobuf message costs well under a microsecond; building one
costs ~12 µs, so everything that repeats is built once and reused.
"""

from __future__ import annotations

from envoy.config.core.v3.base_pb2 import HeaderValue, HeaderValueOption
from envoy.extensions.filters.http.ext_proc.v3.processing_mode_pb2 import ProcessingMode
from envoy.service.ext_proc.v3.external_processor_pb2 import (
    BodyMutation,
    BodyResponse,
    CommonResponse,
    HeaderMutation,
    HeadersResponse,
    ImmediateResponse,
    ProcessingResponse,
    TrailersResponse,
)
from envoy.type.v3.http_status_pb2 import HttpStatus

_OVERWRITE = HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD
METADATA_NAMESPACE = "envoy.filters.http.ext_proc"
GUARD_HEADER = "x-extproc-guard"  # what the prompt guard saw, for the upstream

CONTINUE_REQUEST_HEADERS = ProcessingResponse(request_headers=HeadersResponse())
CONTINUE_REQUEST_BODY = ProcessingResponse(request_body=BodyResponse())
CONTINUE_RESPONSE_HEADERS = ProcessingResponse(response_headers=HeadersResponse())
CONTINUE_RESPONSE_BODY = ProcessingResponse(response_body=BodyResponse())
CONTINUE_REQUEST_TRAILERS = ProcessingResponse(request_trailers=TrailersResponse())
CONTINUE_RESPONSE_TRAILERS = ProcessingResponse(response_trailers=TrailersResponse())


def _set(key: str, value: str | bytes) -> HeaderValueOption:
    raw = value if isinstance(value, bytes) else value.encode()
    return HeaderValueOption(header=HeaderValue(key=key, raw_value=raw), append_action=_OVERWRITE)


class ResponseBook:
    """Responses that depend only on config and a small set of values (tier, reason)."""

    MAX_CACHED = 1024

    def __init__(self, routing_header: str, response_headers: bool) -> None:
        self.routing_header = routing_header
        self.add_response_headers = response_headers
        # Headers only the router may set toward the upstream: a client-sent copy is removed.
        self.router_owned = (routing_header, GUARD_HEADER)
        self.strip_routing_header = ProcessingResponse(
            request_headers=HeadersResponse(
                response=CommonResponse(
                    header_mutation=HeaderMutation(remove_headers=list(self.router_owned))
                )
            )
        )
        # Non-LLM traffic: drop the routing header, stop sending this request's messages.
        self.passthrough_headers = ProcessingResponse(
            request_headers=HeadersResponse(
                response=CommonResponse(
                    header_mutation=HeaderMutation(remove_headers=list(self.router_owned))
                )
            ),
            mode_override=ProcessingMode(
                request_body_mode=ProcessingMode.NONE,
                response_header_mode=ProcessingMode.SKIP,
                response_body_mode=ProcessingMode.NONE,
            ),
        )
        self._route_body: dict[str, ProcessingResponse] = {}
        self._route_headers: dict[str, ProcessingResponse] = {}
        self._route_metadata: dict[tuple[str, str, str | None], ProcessingResponse] = {}
        self._client_headers: dict[tuple[str, str, bool, str | None], ProcessingResponse] = {}

    def _route_common(self, tier: str) -> CommonResponse:
        return CommonResponse(
            header_mutation=HeaderMutation(set_headers=[_set(self.routing_header, tier)]),
            clear_route_cache=True,
        )

    def route_on_body(self, tier: str) -> ProcessingResponse:
        """Body-phase answer: set the routing header and ask Envoy to re-pick the route."""
        response = self._route_body.get(tier)
        if response is None:
            response = ProcessingResponse(
                request_body=BodyResponse(response=self._route_common(tier))
            )
            if len(self._route_body) < self.MAX_CACHED:
                self._route_body[tier] = response
        return response

    def route_by_metadata(self, tier: str, reason: str, arm: str | None) -> ProcessingResponse:
        """Fast mode (request headers skipped): the decision travels as dynamic metadata
        (namespace envoy.filters.http.ext_proc) that Envoy's routes match on. The empty but
        present header_mutation makes Envoy 1.40 honour clear_route_cache."""
        key = (tier, reason, arm)
        response = self._route_metadata.get(key)
        if response is None:
            common = CommonResponse(clear_route_cache=True)
            common.header_mutation.SetInParent()
            response = ProcessingResponse(request_body=BodyResponse(response=common))
            fields = {"tier": tier, "reason": reason}
            if arm is not None:
                fields["arm"] = arm
            response.dynamic_metadata.update({METADATA_NAMESPACE: fields})
            if len(self._route_metadata) < self.MAX_CACHED:
                self._route_metadata[key] = response
        return response

    def route_on_headers(self, tier: str) -> ProcessingResponse:
        """Headers-phase answer (no body will be read): route and skip the body."""
        response = self._route_headers.get(tier)
        if response is None:
            response = ProcessingResponse(
                request_headers=HeadersResponse(response=self._route_common(tier)),
                mode_override=ProcessingMode(request_body_mode=ProcessingMode.NONE),
            )
            if len(self._route_headers) < self.MAX_CACHED:
                self._route_headers[tier] = response
        return response

    def route_with_new_body(self, tier: str, body: bytes) -> ProcessingResponse:
        """Body-phase answer that also replaces the body (and keeps content-length right)."""
        mutation = HeaderMutation(
            set_headers=[_set(self.routing_header, tier), _set("content-length", str(len(body)))]
        )
        return ProcessingResponse(
            request_body=BodyResponse(
                response=CommonResponse(
                    header_mutation=mutation,
                    body_mutation=BodyMutation(body=body),
                    clear_route_cache=True,
                )
            )
        )

    def client_headers(
        self, tier: str, reason: str, read_body: bool, arm: str | None = None
    ) -> ProcessingResponse:
        """Response-headers answer: show the decision to the client (if configured) and,
        with `read_body`, ask Envoy to stream the response body to the router (unchanged)."""
        key = (tier, reason, read_body, arm)
        response = self._client_headers.get(key)
        if response is None:
            response = ProcessingResponse(response_headers=HeadersResponse())
            if self.add_response_headers:
                headers = [_set("x-route-tier", tier), _set("x-route-reason", reason)]
                if arm is not None:
                    headers.append(_set("x-route-arm", arm))
                response.response_headers.response.header_mutation.set_headers.extend(headers)
            if read_body:
                response.mode_override.response_body_mode = ProcessingMode.STREAMED
            if len(self._client_headers) < self.MAX_CACHED:
                self._client_headers[key] = response
        return response


def immediate(status: int, body: bytes, details: str) -> ProcessingResponse:
    """Answer the client directly (no upstream), with a JSON body."""
    return ProcessingResponse(
        immediate_response=ImmediateResponse(
            status=HttpStatus(code=status),  # type: ignore[arg-type]
            headers=HeaderMutation(set_headers=[_set("content-type", "application/json")]),
            body=body,
            details=details,
        )
    )
