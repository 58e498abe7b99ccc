"""Builders for real ext_proc protobuf messages used by the unit tests."""

from __future__ import annotations

from envoy.config.core.v3.base_pb2 import HeaderMap, HeaderValue
from envoy.extensions.filters.http.ext_proc.v3.processing_mode_pb2 import ProcessingMode
from envoy.service.ext_proc.v3.external_processor_pb2 import (
    HttpBody,
    HttpHeaders,
    ProcessingRequest,
    ProtocolConfiguration,
)


def request_headers(
    path: str = "/v1/chat/completions",
    method: str = "POST",
    extra: dict[str, str] | None = None,
    end_of_stream: bool = False,
    body_mode: int | None = ProcessingMode.BUFFERED,
    raw: bool = True,
) -> ProcessingRequest:
    pairs = {
        ":path": path,
        ":method": method,
        ":authority": "x",
        "content-type": "application/json",
        "x-request-id": "rid-1",
        **(extra or {}),
    }
    headers = [
        HeaderValue(key=k, raw_value=v.encode()) if raw else HeaderValue(key=k, value=v)
        for k, v in pairs.items()
    ]
    msg = ProcessingRequest(
        request_headers=HttpHeaders(headers=HeaderMap(headers=headers), end_of_stream=end_of_stream)
    )
    if body_mode is not None:
        msg.protocol_config.CopyFrom(ProtocolConfiguration(request_body_mode=body_mode))  # type: ignore[arg-type]
    return msg


def request_body(body: bytes, end_of_stream: bool = True) -> ProcessingRequest:
    return ProcessingRequest(request_body=HttpBody(body=body, end_of_stream=end_of_stream))


def response_headers(status: int = 200) -> ProcessingRequest:
    return ProcessingRequest(
        response_headers=HttpHeaders(
            headers=HeaderMap(headers=[HeaderValue(key=":status", raw_value=str(status).encode())])
        )
    )


def set_headers(mutation: object) -> dict[str, str]:
    return {
        h.header.key: (h.header.raw_value.decode() or h.header.value)
        for h in mutation.set_headers  # type: ignore[attr-defined]
    }
