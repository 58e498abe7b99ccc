"""A small OpenAI-compatible upstream that says which tier it is.

It answers POST /v1/chat/completions and /v1/completions (JSON, or SSE when the body asks
`"stream": true`), GET /v1/models and GET /health, over HTTP/1.1 with keep-alive. Each
response reports what arrived, so tests can check the router's mutations:
`x-upstream-tier`, `x-received-model`, `x-received-content-length`, `x-received-body-bytes`,
`x-received-route-header`.

Judge requests (`extproc-router collect --judge`) get a deterministic verdict, so tests know
the grades in advance. A chat request whose messages carry the judge rubric
(`extproc.learn.graders.RUBRIC_TAG`) is answered with a short reason and `Score: N`, from
the graded answer and prompt alone:

* an answer from tier_high (its text names `tier_high`) scores 9;
* an answer from tier_low scores 2 when the prompt contains the word `theorem`
  (`JUDGE_HARD_WORD`, case-insensitive) and 9 otherwise;
* any other answer scores 5;
* a prompt containing `unjudgeable` (`JUDGE_UNPARSEABLE_WORD`) gets a reply without a
  score (to test the unparseable-verdict path).

So collect's paired rows hold q_strong = 8/9 for every prompt and q_weak = 8/9, or 1/9
for prompts with the hard word: only those are worth the strong tier.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
from dataclasses import dataclass

import orjson

from extproc.demo.http import BadHttp, read_request
from extproc.learn.graders import RUBRIC_TAG, split_judge_request

log = logging.getLogger("extproc.demo")

MAX_BODY = 64 * 1024 * 1024
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 413: "Payload Too Large"}
JUDGE_HARD_WORD = "theorem"
JUDGE_UNPARSEABLE_WORD = "unjudgeable"


def judge_verdict(doc: dict[str, object]) -> str | None:
    """The demo judge's reply when `doc` is a judge request (see the module docstring)."""
    messages = doc.get("messages")
    if not isinstance(messages, list):
        return None
    texts = [m.get("content") for m in messages if isinstance(m, dict)]
    if not any(isinstance(t, str) and RUBRIC_TAG in t for t in texts):
        return None
    parts = None
    for text in reversed(texts):  # the user message with [Question] ... [End of answer]
        parts = split_judge_request(text) if isinstance(text, str) else None
        if parts is not None:
            break
    if parts is None:
        return "I cannot find the question and the answer."
    prompt, answer = parts[0].lower(), parts[1]
    if JUDGE_UNPARSEABLE_WORD in prompt:
        return "I would rather not grade this one."
    if "tier_high" in answer:
        score = 9
    elif "tier_low" in answer:
        score = 2 if re.search(rf"\b{JUDGE_HARD_WORD}\b", prompt) else 9
    else:
        score = 5
    return f"The answer {'serves' if score >= 5 else 'misses'} the request.\nScore: {score}"


@dataclass(frozen=True, slots=True)
class UpstreamSpec:
    tier: str
    model: str
    delay_ms: float = 0.0
    route_header: str = "x-extproc-tier"
    stream_chunks: int = 5


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class DemoUpstream:
    """One demo tier listening on host:port."""

    def __init__(self, spec: UpstreamSpec, host: str = "127.0.0.1", port: int = 0) -> None:
        self.spec = spec
        self.host = host
        self.port = port
        self.requests = 0
        self.completions = 0  # completion requests answered (control/health calls excluded)
        self.delay_ms = spec.delay_ms
        self.fail_status = 0  # non-zero: answer completions with this status
        self._response_id = ""
        self._created = 0
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, limit=MAX_BODY)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        """Stop listening and close open keep-alive connections (like a server going away)."""
        for writer in list(self._connections):
            writer.close()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        try:
            while True:
                try:
                    request = await read_request(reader, MAX_BODY)
                except (BadHttp, ValueError, asyncio.IncompleteReadError):
                    writer.write(_head(400, {"content-length": "0", "connection": "close"}))
                    await writer.drain()
                    return
                if request is None:
                    return
                self.requests += 1
                await self._respond(writer, *request)
                if request[2].get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._connections.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    async def _respond(
        self,
        writer: asyncio.StreamWriter,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes,
    ) -> None:
        spec = self.spec
        path = target.split("?", 1)[0]
        info = {
            "x-upstream-tier": spec.tier,
            "x-received-content-length": headers.get("content-length", "none"),
            "x-received-body-bytes": str(len(body)),
            "x-received-route-header": headers.get(spec.route_header, "none"),
            "x-received-guard": headers.get("x-extproc-guard", "none"),
        }
        if method == "GET" and path in ("/health", "/healthz"):
            await self._json(writer, 200, {"status": "ok", "tier": spec.tier}, info)
            return
        if path == "/_demo/control":
            await self._control(writer, method, body, info)
            return
        if method == "GET" and path == "/v1/models":
            models = {"object": "list", "data": [{"id": spec.model, "object": "model"}]}
            await self._json(writer, 200, models, info)
            return
        if method != "POST" or path not in ("/v1/chat/completions", "/v1/completions"):
            await self._json(writer, 404, {"error": {"message": f"no route {path}"}}, info)
            return
        try:
            doc = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError:
            doc = None
        if not isinstance(doc, dict):
            info["x-received-model"] = "invalid-json"
            await self._json(writer, 400, {"error": {"message": "invalid JSON"}}, info)
            return
        kwargs = doc.get("chat_template_kwargs")
        if kwargs is not None:
            info["x-received-chat-template-kwargs"] = orjson.dumps(kwargs).decode()
        if "reasoning_effort" in doc:
            info["x-received-reasoning-effort"] = str(doc["reasoning_effort"])
        requested = doc.get("model")
        model = requested if isinstance(requested, str) else spec.model
        info["x-received-model"] = str(model)
        self.completions += 1
        if self.delay_ms:
            await asyncio.sleep(self.delay_ms / 1000.0)
        if self.fail_status:
            await self._json(writer, self.fail_status, {"error": {"message": "demo failure"}}, info)
            return
        digest = hashlib.sha1(body).hexdigest()
        self._response_id = "demo-" + digest[:12]  # same request → same bytes (tests compare)
        self._created = 1_700_000_000 + int(digest[12:18], 16)
        text = judge_verdict(doc) or f"Hello from {spec.tier} ({model})."
        chat = path.endswith("/chat/completions")
        if doc.get("stream") is True:
            options = doc.get("stream_options")
            usage = isinstance(options, dict) and options.get("include_usage") is True
            await self._sse(writer, model, text, chat, info, usage)
        else:
            await self._json(writer, 200, self._completion(model, text, chat), info)

    async def _control(
        self, writer: asyncio.StreamWriter, method: str, body: bytes, info: dict[str, str]
    ) -> None:
        """POST {"delay_ms": float, "fail_status": int} changes behaviour; GET shows it."""
        if method == "POST":
            try:
                doc = orjson.loads(body)
                if "delay_ms" in doc:
                    self.delay_ms = max(0.0, float(doc["delay_ms"]))
                if "fail_status" in doc:
                    self.fail_status = int(doc["fail_status"])
            except (orjson.JSONDecodeError, TypeError, ValueError, AttributeError):
                await self._json(writer, 400, {"error": {"message": "bad control body"}}, info)
                return
        state = {
            "delay_ms": self.delay_ms,
            "fail_status": self.fail_status,
            "requests": self.requests,
            "completions": self.completions,
        }
        await self._json(writer, 200, state, info)

    def _completion(self, model: str, text: str, chat: bool) -> dict[str, object]:
        choice: dict[str, object] = {"index": 0, "finish_reason": "stop"}
        if chat:
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        return {
            "id": self._response_id,
            "object": "chat.completion" if chat else "text_completion",
            "created": self._created,
            "model": model,
            "tier": self.spec.tier,
            "choices": [choice],
            "usage": {"prompt_tokens": 10, "completion_tokens": 8, "total_tokens": 18},
        }

    async def _json(
        self, writer: asyncio.StreamWriter, status: int, doc: object, info: dict[str, str]
    ) -> None:
        payload = orjson.dumps(doc)
        head = {"content-type": "application/json", "content-length": str(len(payload)), **info}
        writer.write(_head(status, head) + payload)
        await writer.drain()

    async def _sse(
        self,
        writer: asyncio.StreamWriter,
        model: str,
        text: str,
        chat: bool,
        info: dict[str, str],
        include_usage: bool = False,
    ) -> None:
        head = {
            "content-type": "text/event-stream",
            "cache-control": "no-cache",
            "transfer-encoding": "chunked",
            **info,
        }
        writer.write(_head(200, head))
        words = text.split(" ")
        n = max(1, min(self.spec.stream_chunks, len(words)))
        pieces = [
            " ".join(words[len(words) * i // n : len(words) * (i + 1) // n]) for i in range(n)
        ]
        for i, piece in enumerate(pieces):
            delta = piece if i == 0 else " " + piece
            if chat:
                choice: dict[str, object] = {"index": 0, "delta": {"content": delta}}
            else:
                choice = {"index": 0, "text": delta}
            event = {
                "id": self._response_id,
                "object": "chat.completion.chunk",
                "created": self._created,
                "model": model,
                "tier": self.spec.tier,
                "choices": [choice],
            }
            self._chunk(writer, b"data: " + orjson.dumps(event) + b"\n\n")
            await writer.drain()
        final = {
            "id": self._response_id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": model,
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        }
        self._chunk(writer, b"data: " + orjson.dumps(final) + b"\n\n")
        if include_usage:  # OpenAI sends usage in one more chunk with empty choices
            usage_chunk = {
                "id": self._response_id,
                "object": "chat.completion.chunk",
                "created": self._created,
                "model": model,
                "choices": [],
                "usage": {"prompt_tokens": 10, "completion_tokens": n, "total_tokens": 10 + n},
            }
            self._chunk(writer, b"data: " + orjson.dumps(usage_chunk) + b"\n\n")
        self._chunk(writer, b"data: [DONE]\n\n")
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    @staticmethod
    def _chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")


async def run_upstreams(specs: list[tuple[UpstreamSpec, int]], host: str = "127.0.0.1") -> None:
    """Run several demo upstreams until cancelled (used by the CLI)."""
    servers = [DemoUpstream(spec, host, port) for spec, port in specs]
    for server in servers:
        port = await server.start()
        log.info("demo upstream %s listening on %s:%d", server.spec.tier, host, port)
    try:
        await asyncio.Event().wait()
    finally:
        for server in servers:
            await server.stop()
