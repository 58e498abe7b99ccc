"""Hot reload: a new config serves new streams; a bad one is rejected, the old one stays."""

from __future__ import annotations

from pathlib import Path

import orjson
import yaml

from extproc.config import load_config
from extproc.observability.metrics import label_values
from extproc.reload import ConfigReloader
from extproc.router import Router
from extproc.wire.server import RouterServer
from extproc.wire.stream import StreamHandler
from tests.helpers import request_body, request_headers, response_headers


def write(path: Path, config: dict[str, object]) -> None:
    path.write_text(yaml.safe_dump(config), encoding="utf-8")


def route(router: Router, handler: StreamHandler | None = None) -> str:
    handler = handler or StreamHandler(router)
    handler.handle(request_headers())
    handler.handle(request_body(orjson.dumps(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}]})))
    assert handler.decision is not None
    return handler.decision.tier


async def test_reload_applies_rejects_and_keeps_state(tmp_path: Path) -> None:
    path = tmp_path / "router.yaml"
    base = {"server": {"listen": "127.0.0.1:0", "admin_listen": "127.0.0.1:0"}}
    write(path, base)
    server = RouterServer(Router(load_config(path)))
    await server.start()
    reloader = ConfigReloader(path, server, poll_s=60)
    try:
        old = server.router
        assert route(old) == "tier_low"
        old.latency.observe("tier_low", 5000.0)
        open_stream = StreamHandler(old)  # a stream that started before the reload
        open_stream.handle(request_headers())

        write(path, {**base, "routing": {"rules": [
            {"type": "split", "weights": {"tier_high": 1}}]}})
        assert await reloader.reload("test")
        new = server.router
        assert new is not old and route(new) == "tier_high"
        assert new.latency.samples("tier_low") == 1  # live state carried over
        # the open stream finishes on the router it started with
        open_stream.handle(request_body(orjson.dumps(
            {"model": "m", "messages": [{"role": "user", "content": "hi"}]})))
        open_stream.handle(response_headers(200))
        assert open_stream.decision is not None and open_stream.decision.tier == "tier_low"

        path.write_text("routing: {default_tier: nope\n")  # broken YAML
        assert not await reloader.reload("test")
        write(path, {**base, "routing": {"default_tier": "gold"}})  # invalid reference
        assert not await reloader.reload("test")
        assert "routing.default_tier" in reloader.last_error
        assert server.router is new and route(new) == "tier_high"
        results = dict(
            (lbl["result"], value) for lbl, value in label_values(new.metrics.reloads)
        )
        assert results == {"applied": 1.0, "rejected": 2.0}
    finally:
        await server.stop(0)
        await server.router.stop_background()
