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


# --- prompts the shipped default scorer routes each way ---------------------------------------
# The default complexity scorer is fitted on outcomes and routes by length alone: a prompt
# crosses DEFAULT_THRESHOLD at about 416 characters (docs/complexity-scorer.md). So the "hard"
# prompt here is genuinely long as well as hard, and the "easy" one is short small talk.

#: Short small talk: the default routes it to tier_low.
EASY_PROMPT = "Hi! How are you today?"

#: A long multi-part maths and code task (well over 600 characters): the default routes it to
#: tier_high.
HARD_PROMPT = (
    "Part 1. Prove that there are infinitely many primes p with p ≡ 3 (mod 4); state every "
    "lemma you use and justify each step of the argument. "
    "Part 2. Write a Python function first_primes(n) that returns the first n such primes "
    "using a segmented sieve of Eratosthenes, with type hints and docstrings, and explain how "
    "you choose the segment size so that memory stays bounded for n up to 10**7. "
    "Part 3. Analyse the time and space complexity of your function step by step, compare it "
    "with trial division and with the Miller-Rabin test, and derive an upper bound on the n-th "
    "prime that lets you size the sieve before it starts. "
    "Part 4. Write pytest unit tests covering n = 0, n = 1, a segment boundary and a large n."
)
