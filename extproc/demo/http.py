"""Minimal HTTP/1.1 request reading for the demo servers (upstreams, metrics endpoint)."""

from __future__ import annotations

import asyncio

Request = tuple[str, str, dict[str, str], bytes]


class BadHttp(Exception):
    """The peer sent something that is not a request these servers accept."""


async def read_request(reader: asyncio.StreamReader, max_body: int) -> Request | None:
    """(method, target, lower-cased headers, body), or None when the peer closed cleanly.
    Content-length and chunked bodies; bodies over `max_body` raise BadHttp."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    except asyncio.LimitOverrunError as exc:
        raise BadHttp("header too large") from exc
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        raise BadHttp("bad request line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks, total = [], 0
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            total += size
            if total > max_body:
                raise BadHttp("body too large")
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        return parts[0], parts[1], headers, b"".join(chunks)
    length = int(headers.get("content-length", "0") or "0")
    if not 0 <= length <= max_body:
        raise BadHttp("bad content-length")
    body = await reader.readexactly(length) if length else b""
    return parts[0], parts[1], headers, body
