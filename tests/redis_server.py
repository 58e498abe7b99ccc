"""A real, throwaway ``redis-server`` on 127.0.0.1 for tests (no persistence, temp dir).

Use the ``redis_server`` fixture (import it into a test module) or :class:`RedisServer` directly.
Tests skip with a clear reason when the ``redis-server`` binary is not on PATH.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from extproc.stack.up import free_port

START_TIMEOUT_S = 5.0
SKIP_REASON = (
    "redis-server not on PATH; install it (e.g. `apt-get install -y redis-server`) "
    "to run the Redis shared-state tests"
)


def redis_server_binary() -> str | None:
    return shutil.which("redis-server")


def ping(port: int, timeout: float = 0.2) -> bool:
    """True when a Redis server on 127.0.0.1:port answers PING with +PONG."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _major_version(binary: str) -> int:
    out = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=5, check=False
    ).stdout
    match = re.search(r"v=(\d+)\.", out)
    return int(match.group(1)) if match else 0


class RedisServer:
    """One redis-server process; can be killed with SIGKILL and restarted on the same port."""

    def __init__(self, workdir: Path, binary: str | None = None) -> None:
        found = binary or redis_server_binary()
        if found is None:
            raise RuntimeError(SKIP_REASON)
        self.binary = found
        self.workdir = workdir
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._extra: list[str] = []
        if _major_version(found) >= 7:  # DEBUG is disabled by default since Redis 7
            self._extra = ["--enable-debug-command", "local"]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, port: int | None = None) -> None:
        """Start on ``port`` (default: a free one; a few tries if another process races us)."""
        tries = 1 if port is not None else 3
        for _ in range(tries):
            self.port = port if port is not None else free_port()
            if self._spawn_and_wait():
                return
        raise RuntimeError(f"redis-server did not answer PING on port {self.port}")

    def _spawn_and_wait(self) -> bool:
        log = (self.workdir / f"redis-{self.port}.log").open("ab")
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.workdir),
                "--protected-mode", "yes",
                *self._extra,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if ping(self.port):
                return True
            time.sleep(0.02)
        self.kill()
        return False

    def kill(self) -> None:
        """SIGKILL the server (like a crash) and reap it."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)

    def restart(self) -> None:
        """Start again on the same port (empty data set: nothing is persisted)."""
        self.kill()
        self.start(self.port)

    def stop(self) -> None:
        self.kill()


@contextlib.contextmanager
def running_redis(workdir: Path) -> Iterator[RedisServer]:
    """Start a server (or skip the test when redis-server is missing), always kill it."""
    if redis_server_binary() is None:
        pytest.skip(SKIP_REASON)
    server = RedisServer(workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh redis-server per test on a free 127.0.0.1 port."""
    with running_redis(tmp_path) as server:
        yield server
