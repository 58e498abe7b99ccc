"""`extproc-router explain` (local and remote) and `status`, against a real gRPC server."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from extproc.config import parse_config
from extproc.router import Router
from extproc.wire.server import RouterServer
from tests.helpers import EASY_PROMPT, HARD_PROMPT

TOKEN = "a-control-token-for-cli-tests"


async def cli(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run the CLI in a child process while this loop keeps serving the router."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "extproc", *argv, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture()
async def server(tmp_path: Path) -> AsyncIterator[tuple[RouterServer, Path]]:
    token = tmp_path / "token"
    token.write_text(TOKEN)
    config = parse_config({"server": {"listen": "127.0.0.1:0",
                                      "control_token_file": str(token)}})
    srv = RouterServer(Router(config))
    await srv.start()
    yield srv, token
    await srv.stop(0)


async def test_explain_locally_with_the_default_config() -> None:
    rc, out, err = await cli("explain", HARD_PROMPT)
    assert rc == 0, err
    reply = json.loads(out)
    assert reply["tier"] == "tier_high" and reply["rule"] == "complexity"
    assert [t["rule"] for t in reply["trace"]] == ["override", "vram", "latency_sla",
                                                   "complexity"]
    rc, out, _ = await cli("explain", EASY_PROMPT)
    assert json.loads(out)["tier"] == "tier_low"


async def test_explain_bad_inputs_exit_2(tmp_path: Path) -> None:
    rc, _, err = await cli("explain", "hi", "--header", "no-colon")
    assert rc == 2 and "NAME:VALUE" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("routing: {defualt_tier: tier_low}\n")
    rc, _, err = await cli("explain", "hi", "--config", str(bad))
    assert rc == 2 and "did you mean 'default_tier'" in err
    rc, _, err = await cli("explain", "--body", str(tmp_path / "missing.json"))
    assert rc == 2 and "Traceback" not in err


async def test_remote_status_and_explain_need_the_token(
    server: tuple[RouterServer, Path],
) -> None:
    srv, token = server
    address = f"127.0.0.1:{srv.port}"
    rc, out, err = await cli("status", "--router", address, "--token-file", str(token))
    assert rc == 0, err
    state = json.loads(out)
    assert {t["tier"] for t in state["tiers"]} == {"tier_low", "tier_high"}
    assert state["config_version"] == srv.router.version
    rc, out, err = await cli("explain", HARD_PROMPT, "--router", address,
                             env={"EXTPROC_CONTROL_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"})
    assert rc == 0, err
    assert json.loads(out)["tier"] == "tier_high"
    rc, _, err = await cli("status", "--router", address, env={"PATH": "/usr/bin:/bin"})
    assert rc == 2 and "UNAUTHENTICATED" in err and "Traceback" not in err


async def test_status_of_a_router_that_is_not_there() -> None:
    rc, _, err = await cli("status", "--router", "127.0.0.1:1")
    assert rc == 2 and "UNAVAILABLE" in err and "Traceback" not in err
