"""`extproc-router up`: start demo upstreams, the router and a real Envoy; stop them together."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from extproc.config.model import RouterConfig
from extproc.config.warnings import reads_request_headers
from extproc.stack.envoy import DEFAULT_TEMPLATE, envoy_binary, render_envoy


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free now, chosen below the kernel's ephemeral range when possible, so
    an outgoing connection cannot take it between this call and the server's bind."""
    low, _ = _ephemeral_range()
    candidates = list(range(max(1025, low - 12000), low)) if low > 2025 else []
    random.shuffle(candidates)
    for port in candidates[:200]:
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def envoy_values_for(config: RouterConfig) -> dict[str, str]:
    """Template values a router config implies: fast.yaml sends `request.headers` too when
    the rules read request headers (override header, A/B key, canary user)."""
    if reads_request_headers(config):
        return {"FAST_ATTRIBUTES": "request.id, request.headers"}
    return {}


@dataclass
class StackPorts:
    listen: int = 10000
    envoy_admin: int = 9901
    router: int = 50051
    router_admin: int = 9464
    tier_low: int = 8101
    tier_high: int = 8102

    @classmethod
    def free(cls) -> StackPorts:
        ports: list[int] = []
        while len(ports) < 6:
            port = free_port()
            if port not in ports:
                ports.append(port)
        return cls(*ports)


@dataclass
class Stack:
    """The local stack. All processes bind 127.0.0.1."""

    ports: StackPorts = field(default_factory=StackPorts)
    router_config: str | None = None
    envoy_template: str = DEFAULT_TEMPLATE
    failure_mode_allow: bool = True
    message_timeout: str = "1s"
    max_body_bytes: int = 16 * 1024 * 1024
    envoy_concurrency: int = 1
    upstream_delay_ms: float = 0.0
    log_dir: Path | None = None
    extra_envoy_values: dict[str, str] = field(default_factory=dict)
    router_env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.log_dir is None:
            self.log_dir = Path(tempfile.mkdtemp(prefix="extproc-stack-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports.listen}"

    def envoy_values(self) -> dict[str, str]:
        p = self.ports
        return {
            "ENVOY_LISTEN_PORT": str(p.listen),
            "ENVOY_ADMIN_PORT": str(p.envoy_admin),
            "ROUTER_PORT": str(p.router),
            "TIER_LOW_PORT": str(p.tier_low),
            "TIER_HIGH_PORT": str(p.tier_high),
            "FAILURE_MODE_ALLOW": "true" if self.failure_mode_allow else "false",
            "MESSAGE_TIMEOUT": self.message_timeout,
            "MAX_BODY_BYTES": str(self.max_body_bytes),
            **self.extra_envoy_values,
        }

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        assert self.log_dir is not None
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - child owns it
        self.procs[name] = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
        log.close()

    def start_upstreams(self) -> None:
        p = self.ports
        self._spawn(
            "upstreams",
            [
                sys.executable,
                "-m",
                "extproc",
                "demo-upstreams",
                "--low-port",
                str(p.tier_low),
                "--high-port",
                str(p.tier_high),
                "--delay-ms",
                str(self.upstream_delay_ms),
            ],
        )

    def start_router(self) -> None:
        p = self.ports
        argv = [
            sys.executable,
            "-m",
            "extproc",
            "serve",
            "--listen",
            f"127.0.0.1:{p.router}",
            "--admin-listen",
            f"127.0.0.1:{p.router_admin}",
            "--insecure-control",  # the local demo stack: loopback only, no token
        ]
        if self.router_config:
            argv += ["--config", self.router_config]
        self._spawn("router", argv, self.router_env)

    def start_envoy(self) -> None:
        assert self.log_dir is not None
        config = self.log_dir / "envoy.yaml"
        config.write_text(render_envoy(self.envoy_template, self.envoy_values()), encoding="utf-8")
        self._spawn(
            "envoy",
            [
                envoy_binary(),
                "-c",
                str(config),
                "--concurrency",
                str(self.envoy_concurrency),
                "--disable-hot-restart",
                "--log-level",
                "warning",
            ],
        )

    def start(self, timeout_s: float = 30.0) -> None:
        try:
            self.start_upstreams()
            self.start_router()
            self.start_envoy()
            self.wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise

    def wait_ready(self, timeout_s: float = 30.0, router: bool = True) -> None:
        """Wait (bounded) until upstreams accept, the router is ready and Envoy is live."""
        p = self.ports
        deadline = time.monotonic() + timeout_s
        checks = [
            ("upstreams", f"http://127.0.0.1:{p.tier_low}/health"),
            ("upstreams", f"http://127.0.0.1:{p.tier_high}/health"),
            ("envoy", f"http://127.0.0.1:{p.envoy_admin}/ready"),
        ]
        if router and "router" in self.procs:
            checks.append(("router", f"http://127.0.0.1:{p.router_admin}/readyz"))
        for name, url in checks:
            while not _http_ok(url):
                proc = self.procs.get(name)
                if proc is not None and proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}: {self.tail(name)}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{name} not ready at {url}: {self.tail(name)}")
                time.sleep(0.05)

    def tail(self, name: str, lines: int = 20) -> str:
        assert self.log_dir is not None
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop_process(self, name: str, sig: int = signal.SIGTERM, timeout_s: float = 10.0) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)

    def stop(self) -> None:
        for name in ("envoy", "router", "upstreams"):
            self.stop_process(name)

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


# The default complexity scorer routes by length (fitted on outcomes, see
# docs/complexity-scorer.md): prompts longer than about 416 characters go to tier_high. So the
# "complex" example is a long multi-part task. Plain ASCII without quotes or backslashes, so it
# pastes into a single-quoted JSON body in the shell.
HARD_PROMPT = (
    "Part 1: prove that there are infinitely many primes, stating each lemma you use. "
    "Part 2: write a Python function that returns the first n primes with a segmented sieve "
    "of Eratosthenes, with type hints and a docstring, and explain how you pick the segment "
    "size so that memory stays bounded for n up to ten million. "
    "Part 3: analyse its time and space complexity step by step, compare it with trial "
    "division, and derive an upper bound on the n-th prime that sizes the sieve before it "
    "starts. Part 4: write pytest unit tests for n = 0, n = 1, a segment boundary and a large "
    "n, and say which of them would catch an off-by-one error in the segment offsets."
)


def run_up(stack: Stack) -> int:
    """Start the stack, print how to use it, and wait for Ctrl-C / SIGTERM."""
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stack.start()
    p = stack.ports
    print(
        f"""extproc-router stack is up (logs in {stack.log_dir}).

  Envoy listener : {stack.url}
  Router metrics : http://127.0.0.1:{p.router_admin}/metrics
  Envoy admin    : http://127.0.0.1:{p.envoy_admin}

Try a short and a long prompt (watch the x-route-tier response header).
The default routes by prompt length (over ~416 characters goes to tier_high); to route on
your own outcomes, see docs/learning-loop.md:

  curl -si {stack.url}/v1/chat/completions -H 'content-type: application/json' \\
    -d '{{"model":"auto","messages":[{{"role":"user","content":"Hi there!"}}]}}'

  curl -si {stack.url}/v1/chat/completions -H 'content-type: application/json' \\
    -d '{{"model":"auto","messages":[{{"role":"user","content":"{HARD_PROMPT}"}}]}}'

Ctrl-C stops everything.""",
        flush=True,
    )
    try:
        while not stopping:
            for name, proc in list(stack.procs.items()):
                if proc.poll() is not None:
                    print(f"{name} exited with {proc.returncode}:\n{stack.tail(name)}", flush=True)
                    stopping = True
            time.sleep(0.2)
    finally:
        stack.stop()
    return 0
