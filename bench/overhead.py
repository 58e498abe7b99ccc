"""Routing overhead in one run: Envoy direct vs Envoy + a trivial ext_proc vs Envoy + the router.

Scenarios (all on 127.0.0.1, all against the same cheap upstream):

  direct        front Envoy from envoy/two-tier.yaml with the ext_proc filter removed
  floor         the issue's floor: a do-nothing ext_proc of the usual design (request headers
                SEND + body BUFFERED, route by header + clear_route_cache; response headers
                SKIP), written the plain way: default asyncio loop, an async-generator handler,
                each answer built per message (`--serve-trivial --plain`). The targets (fast
                mode >= 1.25x its req/s at c=16, full mode within 15%) are measured against it.
  trivial-2msg  the floor's messages + a *tuned* minimal ext_proc (this file,
                `--serve-trivial`): uvloop, context.read()/write(), pre-built answers
  trivial       envoy/two-tier.yaml as shipped + the tuned minimal ext_proc: the same three
                messages as the router (request headers, buffered body, response headers);
                the "tuned twin" of `routed`: what the router costs beyond the wire
  routed        envoy/two-tier.yaml + the router (`python -m extproc serve`), full mode
  trivial-fast  envoy/fast.yaml + the tuned minimal ext_proc answering with dynamic metadata
                (one message per request) and draining the access-log stream: the tuned twin
                of `routed-fast`
  routed-fast   envoy/fast.yaml + the router, fast mode
  routed-NAME   the router with another config (--variant NAME=FILE): envoy/fast.yaml when
                that config says `mode: fast`, else envoy/two-tier.yaml

The upstream is one more Envoy serving a fixed chat completion with `direct_response` on
two listeners (bench/envoy-direct-upstream.yaml), so it costs almost nothing.

Cells are interleaved (round r: every concurrency, every scenario, order rotated per round),
so slow drift of the machine hits all scenarios alike. Absolute req/s move between runs and
machines; compare the ratios from one run and the CPU µs per request of the ext_proc process.

Usage:
  python bench/overhead.py --quick      # ~2-3 min: 3 s cells, 1 round
  python bench/overhead.py              # ~10 min: 8 s cells, 3 rounds → bench/results/overhead.json
  python bench/overhead.py --scenarios direct,trivial,routed --duration 10 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import datetime as dt
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
UPSTREAM_TEMPLATE = BENCH_DIR / "envoy-direct-upstream.yaml"
RESULTS_DIR = BENCH_DIR / "results"
API_PATH = "/v1/chat/completions"
SIMPLE_BODY = b'{"model":"auto","messages":[{"role":"user","content":"Hi there!"}]}'
# The default routes by length (strong above ~416 characters), so the complex prompt is long.
COMPLEX_BODY = (
    b'{"model":"auto","messages":[{"role":"user","content":'
    b'"Prove that there are infinitely many primes of the form 4k+3, then write a Python '
    b'function that returns the first n such primes using a segmented sieve. Analyse its time '
    b'and memory complexity step by step, explain why the bound holds for n up to 10^9, and '
    b'compare it with a wheel-factorised trial division. Finally, state the assumptions your '
    b'analysis makes about the distribution of primes in arithmetic progressions and say how '
    b'the result would change if they failed."}]}'
)
BODIES = (SIMPLE_BODY, COMPLEX_BODY)  # alternated request by request; ~320 bytes on average
EXPECTED_TIER = {SIMPLE_BODY: "tier_low", COMPLEX_BODY: "tier_high"}
ALL_SCENARIOS = (
    "direct",
    "floor",
    "trivial-2msg",
    "trivial",
    "routed",
    "trivial-fast",
    "routed-fast",
)
TRIVIALS = ("floor", "trivial", "trivial-2msg", "trivial-fast")
# The issue's floor, for every routed scenario: a plain do-nothing ext_proc, usual design.
FLOOR = "floor"
# The tuned twin of each routed scenario: the tuned trivial ext_proc behind the same Envoy
# config (same messages). `routed-NAME` variants use envoy/two-tier.yaml: twin `trivial`.
TWIN = {"routed-fast": "trivial-fast"}
# The issue's targets (c=16 throughput vs the floor; Python CPU per request in fast mode).
FAST_VS_FLOOR_MIN = 1.25
FAST_CPU_US_MAX = 600.0
FULL_VS_FLOOR_MIN = 0.85
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Envoy ext_proc counters that mean a request was not processed as designed.
EXTPROC_TROUBLE = re.compile(r"fail|timeout|ignored|rejected|spurious|error")


# ---- small helpers ------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of stat(5)


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, steal) CPU-seconds of all CPUs, from the first line of /proc/stat.

    busy: user + nice + system + irq + softirq (the work done inside this machine);
    steal: time the hypervisor gave to someone else.
    """
    with open("/proc/stat", encoding="ascii") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    busy = values[0] + values[1] + values[2] + values[5] + values[6]
    return busy / CLK_TCK, values[7] / CLK_TCK


def wait_for_quiet(max_wait_s: float, threshold_pct: float = 15.0) -> tuple[float, float]:
    """Wait (at most max_wait_s) until the machine is busy under threshold_pct over 0.5 s.

    Returns (seconds waited, busy % of the last window). Other work on a shared host is the
    largest source of noise; this keeps cells from starting in the middle of it.
    """
    started = time.monotonic()
    ncpu = len(os.sched_getaffinity(0))
    while True:
        before, _ = machine_cpu_seconds()
        time.sleep(0.5)
        after, _ = machine_cpu_seconds()
        busy_pct = 100 * (after - before) / (0.5 * ncpu)
        waited = time.monotonic() - started
        if busy_pct < threshold_pct or waited >= max_wait_s:
            return round(waited, 1), round(busy_pct, 1)


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def http(
    url: str, body: bytes | None = None, timeout: float = 5.0
) -> tuple[int, dict[str, str], bytes]:
    headers = {"content-type": "application/json"} if body is not None else {}
    req = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def envoy_counters(admin_port: int) -> dict[str, int]:
    """ext_proc counters and per-tier upstream counters of one Envoy."""
    flt = r"ext_proc|cluster\.tier_(low|high)\.upstream_(rq_total|cx_total|rq_5xx)"
    url = f"http://127.0.0.1:{admin_port}/stats?usedonly&filter={urllib.parse.quote(flt)}"
    _, _, text = http(url)
    out: dict[str, int] = {}
    for line in text.decode().splitlines():
        name, _, value = line.partition(": ")
        if value.strip().isdigit():
            out[name.strip()] = int(value)
    return out


ROUTER_TIMERS = re.compile(
    r'^extproc_(phase|decision)_seconds_sum(?:\{phase="(\w+)"\})? ([0-9.e+-]+)$', re.M
)


def router_timers(scenario: Scenario) -> dict[str, float]:
    """The router's own time per phase (its /metrics histograms' sums), in seconds."""
    if not scenario.name.startswith("routed"):
        return {}
    url = f"http://127.0.0.1:{scenario.stack.ports.router_admin}/metrics"
    try:
        _, _, text = http(url)
    except OSError:
        return {}
    return {
        (phase or kind): float(value) for kind, phase, value in ROUTER_TIMERS.findall(text.decode())
    }


def command_output(argv: list[str]) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({exc})"
    return (proc.stdout + proc.stderr).strip()


def code_fingerprint() -> dict[str, str]:
    """Short sha256 of the code measured (the bench does not run git)."""
    out: dict[str, str] = {}
    groups = {
        "extproc": sorted((REPO_DIR / "extproc").rglob("*.py")),
        "envoy/two-tier.yaml": [REPO_DIR / "envoy" / "two-tier.yaml"],
        "bench": [Path(__file__).resolve(), UPSTREAM_TEMPLATE],
    }
    for name, paths in groups.items():
        digest = hashlib.sha256()
        for path in paths:
            digest.update(str(path.relative_to(REPO_DIR)).encode() + b"\0" + path.read_bytes())
        out[name] = digest.hexdigest()[:12]
    return out


def machine_info(envoy: str, loadgen: str) -> dict[str, Any]:
    import grpc

    cpu_model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError), open("/proc/meminfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem_kb = int(line.split()[1])
    envoy_version = command_output([envoy, "--version"]).split("version:", 1)[-1].strip()
    info: dict[str, Any] = {
        "date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "mem_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
        "envoy": envoy_version,
        "loadgen": loadgen,
        "loadavg_start": os.getloadavg(),
    }
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        info["uvloop"] = importlib.metadata.version("uvloop")
    if loadgen == "wrk":
        info["wrk"] = command_output(["wrk", "--version"]).splitlines()[0]
    return info


# ---- the trivial ext_proc (the floor) -----------------------------------------------------


def serve_trivial(listen: str, fast: bool, plain: bool = False) -> None:
    """A minimal grpc.aio ext_proc: no parsing, no logic.

    Tuned (default): uvloop, context.read()/write(), answers built once and reused.
    plain: the do-nothing ext_proc as usually written (the issue's floor): the default
    asyncio loop, an async-generator handler, each answer built when its message arrives.
    fast: answer the body the way envoy/fast.yaml needs (dynamic metadata {tier, reason},
    clear_route_cache, an empty but present header_mutation), and drain the access-log
    stream that fast.yaml sends to the same cluster.
    """
    import grpc
    from envoy.config.core.v3.base_pb2 import HeaderValue, HeaderValueOption
    from envoy.service.accesslog.v3 import als_pb2, als_pb2_grpc
    from envoy.service.ext_proc.v3 import external_processor_pb2 as pb
    from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as pb_grpc

    def header_set(key: str, value: str) -> Any:
        return pb.HeaderMutation(
            set_headers=[
                HeaderValueOption(
                    header=HeaderValue(key=key, raw_value=value.encode()),
                    append_action=HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD,
                )
            ]
        )

    answers = {
        "request_headers": pb.ProcessingResponse(request_headers=pb.HeadersResponse()),
        "request_body": pb.ProcessingResponse(
            request_body=pb.BodyResponse(
                response=pb.CommonResponse(
                    header_mutation=header_set("x-extproc-tier", "tier_low"),
                    clear_route_cache=True,
                )
            )
        ),
        "response_headers": pb.ProcessingResponse(
            response_headers=pb.HeadersResponse(
                response=pb.CommonResponse(header_mutation=header_set("x-route-tier", "tier_low"))
            )
        ),
        "response_body": pb.ProcessingResponse(response_body=pb.BodyResponse()),
        "request_trailers": pb.ProcessingResponse(request_trailers=pb.TrailersResponse()),
        "response_trailers": pb.ProcessingResponse(response_trailers=pb.TrailersResponse()),
    }
    if fast:
        common = pb.CommonResponse(clear_route_cache=True)
        common.header_mutation.SetInParent()
        body = pb.ProcessingResponse(request_body=pb.BodyResponse(response=common))
        body.dynamic_metadata.update(
            {"envoy.filters.http.ext_proc": {"tier": "tier_low", "reason": "trivial"}}
        )
        answers["request_body"] = body

    class AccessLogs(als_pb2_grpc.AccessLogServiceServicer):  # type: ignore[misc]
        async def StreamAccessLogs(self, request_iterator: Any, context: Any) -> Any:
            async for _ in request_iterator:
                pass
            return als_pb2.StreamAccessLogsResponse()

    class Processor(pb_grpc.ExternalProcessorServicer):  # type: ignore[misc]
        async def Process(self, request_iterator: Any, context: Any) -> None:
            while True:
                request = await context.read()
                if request is grpc.aio.EOF:
                    return
                answer = answers.get(request.WhichOneof("request") or "")
                if answer is not None:
                    await context.write(answer)

    class PlainProcessor(pb_grpc.ExternalProcessorServicer):  # type: ignore[misc]
        async def Process(self, request_iterator: Any, context: Any) -> Any:
            async for request in request_iterator:
                kind = request.WhichOneof("request")
                if kind == "request_headers":
                    yield pb.ProcessingResponse(request_headers=pb.HeadersResponse())
                elif kind == "request_body":
                    yield pb.ProcessingResponse(
                        request_body=pb.BodyResponse(
                            response=pb.CommonResponse(
                                header_mutation=header_set("x-extproc-tier", "tier_low"),
                                clear_route_cache=True,
                            )
                        )
                    )
                elif kind == "response_headers":
                    yield pb.ProcessingResponse(response_headers=pb.HeadersResponse())
                elif kind == "response_body":
                    yield pb.ProcessingResponse(response_body=pb.BodyResponse())

    async def main() -> None:
        server = grpc.aio.server()
        processor = PlainProcessor() if plain else Processor()
        pb_grpc.add_ExternalProcessorServicer_to_server(processor, server)
        als_pb2_grpc.add_AccessLogServiceServicer_to_server(AccessLogs(), server)
        if server.add_insecure_port(listen) == 0:
            raise SystemExit(f"cannot listen on {listen}")
        await server.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await server.stop(0)

    if plain:
        asyncio.run(main())
        return
    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())


# ---- processes --------------------------------------------------------------------------

EXT_PROC_FILTER = "envoy.filters.http.ext_proc"


def http_connection_manager(config: dict[str, Any]) -> dict[str, Any]:
    """The typed_config of the first listener's HTTP connection manager."""
    listener = config["static_resources"]["listeners"][0]
    hcm: dict[str, Any] = listener["filter_chains"][0]["filters"][0]["typed_config"]
    return hcm


def edit_envoy_config(stack: Any, edit: Callable[[dict[str, Any]], None]) -> None:
    """Render the stack's Envoy template, edit the parsed YAML, and use the result."""
    import yaml

    from extproc.stack.envoy import render_envoy

    config = yaml.safe_load(render_envoy(stack.envoy_template, stack.envoy_values()))
    edit(config)
    assert stack.log_dir is not None
    path = stack.log_dir / "envoy-edited.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    stack.envoy_template = str(path)


def skip_response_headers(config: dict[str, Any]) -> None:
    """The usual design's messages: request headers + buffered body, no response message."""
    ext_proc = next(
        f for f in http_connection_manager(config)["http_filters"] if f["name"] == EXT_PROC_FILTER
    )
    ext_proc["typed_config"]["processing_mode"]["response_header_mode"] = "SKIP"


@dataclass
class Scenario:
    name: str
    stack: Any  # extproc.stack.up.Stack
    extproc_proc: str | None  # key in stack.procs of the ext_proc process, if any

    @property
    def url(self) -> str:
        return f"{self.stack.url}{API_PATH}"

    @property
    def admin_port(self) -> int:
        return int(self.stack.ports.envoy_admin)

    def pids(self) -> dict[str, int]:
        out = {"front_envoy": self.stack.procs["envoy"].pid}
        if self.extproc_proc:
            out["extproc"] = self.stack.procs[self.extproc_proc].pid
        return out


@dataclass
class Bench:
    args: argparse.Namespace
    log_dir: Path
    upstream: Any = None
    scenarios: dict[str, Scenario] = field(default_factory=dict)

    def _ports(self, tier_low: int, tier_high: int) -> Any:
        from extproc.stack.up import StackPorts, free_port

        return StackPorts(
            listen=free_port(),
            envoy_admin=free_port(),
            router=free_port(),
            router_admin=free_port(),
            tier_low=tier_low,
            tier_high=tier_high,
        )

    def _stack(self, name: str, ports: Any, template: str, router_config: str | None = None) -> Any:
        from extproc.stack.up import Stack

        return Stack(
            ports=ports,
            router_config=router_config or self.args.router_config,
            envoy_template=template,
            envoy_concurrency=self.args.envoy_concurrency,
            log_dir=self.log_dir / name,
        )

    def start(self) -> None:
        from extproc.stack.up import free_port

        low, high = free_port(), free_port()
        self.upstream = self._stack("upstream", self._ports(low, high), str(UPSTREAM_TEMPLATE))
        if self.args.upstream_reconnect:

            def no_buffer(config: dict[str, Any]) -> None:
                for listener in config["static_resources"]["listeners"]:
                    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
                    hcm["http_filters"] = [
                        f for f in hcm["http_filters"] if f["name"] != "envoy.filters.http.buffer"
                    ]

            edit_envoy_config(self.upstream, no_buffer)
        self.upstream.start_envoy()
        self.upstream.wait_ready(30.0, router=False)
        for name in self.args.scenarios:
            start = getattr(self, f"_start_{name.replace('-', '_')}")
            self.scenarios[name] = start(name, self._ports(low, high))
        from extproc.config import load_config

        for name, config in self.args.variants.items():
            template = "fast.yaml" if load_config(config).mode == "fast" else "two-tier.yaml"
            self.scenarios[name] = self._start_routed(name, self._ports(low, high), config,
                                                      template)

    def _start_direct(self, name: str, ports: Any) -> Scenario:
        stack = self._stack(name, ports, "two-tier.yaml")

        def no_ext_proc(config: dict[str, Any]) -> None:
            hcm = http_connection_manager(config)
            filters = hcm["http_filters"]
            hcm["http_filters"] = [f for f in filters if f["name"] != EXT_PROC_FILTER]
            assert len(hcm["http_filters"]) == len(filters) - 1, "no ext_proc filter to remove"
            clusters = config["static_resources"]["clusters"]
            config["static_resources"]["clusters"] = [
                c for c in clusters if c["name"] != "extproc_router"
            ]

        edit_envoy_config(stack, no_ext_proc)
        stack.start_envoy()
        stack.wait_ready(30.0, router=False)
        return Scenario(name, stack, None)

    def _start_floor(self, name: str, ports: Any) -> Scenario:
        return self._start_trivial(name, ports, skip_response_headers, plain=True)

    def _start_trivial_2msg(self, name: str, ports: Any) -> Scenario:
        return self._start_trivial(name, ports, skip_response_headers)

    def _start_trivial_fast(self, name: str, ports: Any) -> Scenario:
        return self._start_trivial(name, ports, template="fast.yaml")

    def _start_routed_fast(self, name: str, ports: Any) -> Scenario:
        return self._start_routed(name, ports, template="fast.yaml")

    def _start_trivial(
        self,
        name: str,
        ports: Any,
        edit: Callable[[dict[str, Any]], None] | None = None,
        template: str = "two-tier.yaml",
        plain: bool = False,
    ) -> Scenario:
        stack = self._stack(name, ports, template)
        if edit is not None:
            edit_envoy_config(stack, edit)
        assert stack.log_dir is not None
        log = open(stack.log_dir / "trivial.log", "ab")  # noqa: SIM115 - child owns it
        stack.procs["router"] = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--serve-trivial",
                f"127.0.0.1:{ports.router}",
                *(["--fast"] if template == "fast.yaml" else []),
                *(["--plain"] if plain else []),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        stack.start_envoy()
        stack.wait_ready(30.0, router=False)
        return Scenario(name, stack, "router")

    def _start_routed(
        self,
        name: str,
        ports: Any,
        router_config: str | None = None,
        template: str = "two-tier.yaml",
    ) -> Scenario:
        stack = self._stack(name, ports, template, router_config)
        stack.start_router()
        stack.start_envoy()
        stack.wait_ready(30.0, router=True)
        return Scenario(name, stack, "router")

    def stop(self) -> None:
        for scenario in self.scenarios.values():
            scenario.stack.stop()
        if self.upstream is not None:
            self.upstream.stop()


# ---- correctness before the load ----------------------------------------------------------


def wait_until_answering(scenario: Scenario, timeout_s: float = 15.0) -> list[dict[str, Any]]:
    """--skip-checks: only wait until the scenario answers 200 (no routing expectations)."""
    deadline = time.monotonic() + timeout_s
    while True:
        status, headers, _ = http(scenario.url, SIMPLE_BODY)
        if status == 200:
            return [{"status": status, "x-route-tier": headers.get("x-route-tier")}]
        if time.monotonic() > deadline:
            raise RuntimeError(f"{scenario.name}: no 200 answer within {timeout_s:.0f} s")
        time.sleep(0.2)


def check_scenario(
    scenario: Scenario, timeout_s: float = 15.0, after_load: bool = False
) -> list[dict[str, Any]]:
    """A few requests through the scenario; raise if routing is not as designed.

    Retries (bounded) while the ext_proc server is still starting: with failure_mode_allow
    Envoy would answer without the routing header. After the load (`after_load`), live
    state may legitimately move a request off its complexity tier (e.g. the latency SLA
    rule, fed by the load's own latencies): a routed request then only has to land where the
    router said (`x-route-tier` == `x-upstream-tier`); the reason is recorded.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        problems: list[str] = []
        seen: list[dict[str, Any]] = []
        for body in BODIES:
            status, headers, payload = http(scenario.url, body)
            routed_tier = headers.get("x-route-tier")
            upstream_tier = headers.get("x-upstream-tier")
            seen.append(
                {
                    "body_bytes": len(body),
                    "status": status,
                    "x-route-tier": routed_tier,
                    "x-route-reason": headers.get("x-route-reason"),
                    "x-upstream-tier": upstream_tier,
                }
            )
            if status != 200 or b"chat.completion" not in payload:
                problems.append(f"status {status}: {payload[:200]!r}")
            if scenario.name == "direct":
                want_route, want_upstream = None, "tier_low"
            elif scenario.name in ("trivial", "trivial-fast"):
                want_route = want_upstream = "tier_low"
            elif scenario.name in ("trivial-2msg", "floor"):
                want_route, want_upstream = None, "tier_low"
            else:
                want_route = want_upstream = EXPECTED_TIER[body]
                if after_load and routed_tier is not None and routed_tier != want_route:
                    print(
                        f"note: after the load, {scenario.name} sent the {len(body)}-byte body "
                        f"to {routed_tier} (x-route-reason: {headers.get('x-route-reason')})",
                        flush=True,
                    )
                    want_route = want_upstream = routed_tier
                if scenario.name != "routed" and routed_tier is None:
                    want_route = None  # a variant's config may turn response headers off
            if routed_tier != want_route or upstream_tier != want_upstream:
                problems.append(
                    f"{len(body)}-byte body: x-route-tier={routed_tier} (want {want_route}), "
                    f"x-upstream-tier={upstream_tier} (want {want_upstream})"
                )
        if not problems:
            return seen
        if time.monotonic() > deadline:
            raise RuntimeError(f"{scenario.name}: routing check failed: {'; '.join(problems)}")
        time.sleep(0.2)


# ---- load generators ------------------------------------------------------------------------

WRK_SCRIPT = """-- generated by bench/overhead.py: POST two small chat bodies, alternating
local bodies = { [==[%s]==], [==[%s]==] }
local reqs = {}
local n = 0
function init(args)
  for i, b in ipairs(bodies) do
    reqs[i] = wrk.format("POST", "%s", { ["Content-Type"] = "application/json" }, b)
  end
end
function request()
  n = n + 1
  return reqs[(n %% #reqs) + 1]
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%%d,"duration_us":%%d,"connect_errors":%%d,' ..
    '"read_errors":%%d,"write_errors":%%d,"status_errors":%%d,"timeouts":%%d,' ..
    '"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,"p999_us":%%d,"mean_us":%%.1f,"max_us":%%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.mean, latency.max))
end
"""


def write_wrk_script(path: Path) -> None:
    text = WRK_SCRIPT % (SIMPLE_BODY.decode(), COMPLEX_BODY.decode(), API_PATH)
    path.write_text(text, encoding="utf-8")


def run_wrk(url: str, concurrency: int, duration: float, script: Path) -> dict[str, Any]:
    argv = [
        "wrk",
        "-t1",
        f"-c{concurrency}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "5s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60, check=False)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stdout}\n{proc.stderr}")
    result: dict[str, Any] = json.loads(line[len("WRKJSON ") :])
    text_rps = re.search(r"Requests/sec:\s+([\d.]+)", proc.stdout)
    result["wrk_text_rps"] = float(text_rps.group(1)) if text_rps else None
    return result


async def _python_load(host: str, port: int, concurrency: int, duration: float) -> dict[str, Any]:
    requests = [
        (
            f"POST {API_PATH} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
        for body in BODIES
    ]
    latencies: list[float] = []
    errors = {"status": 0, "read": 0, "connect": 0}
    counter = 0
    end = time.perf_counter() + duration

    async def worker() -> None:
        nonlocal counter
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            errors["connect"] += 1
            return
        try:
            while time.perf_counter() < end:
                counter += 1
                start = time.perf_counter()
                writer.write(requests[counter % 2])
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await asyncio.wait_for(reader.readexactly(length), 5)
                latencies.append(time.perf_counter() - start)
                if not head.startswith(b"HTTP/1.1 2"):
                    errors["status"] += 1
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            errors["read"] += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> int:
        if not latencies:
            return 0
        return int(latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))] * 1e6)

    return {
        "requests": len(latencies),
        "duration_us": int(elapsed * 1e6),
        "connect_errors": errors["connect"],
        "read_errors": errors["read"],
        "write_errors": 0,
        "status_errors": errors["status"],
        "timeouts": 0,
        "p50_us": pct(50),
        "p90_us": pct(90),
        "p99_us": pct(99),
        "p999_us": pct(99.9),
        "mean_us": statistics.fmean(latencies) * 1e6 if latencies else 0.0,
        "max_us": int(latencies[-1] * 1e6) if latencies else 0,
        "wrk_text_rps": None,
    }


def run_load(
    loadgen: str, scenario: Scenario, concurrency: int, duration: float, script: Path
) -> dict[str, Any]:
    if loadgen == "wrk":
        return run_wrk(scenario.url, concurrency, duration, script)
    port = int(scenario.stack.ports.listen)
    return asyncio.run(_python_load("127.0.0.1", port, concurrency, duration))


# ---- one cell ---------------------------------------------------------------------------------


def run_cell(
    bench: Bench,
    scenario: Scenario,
    concurrency: int,
    duration: float,
    script: Path,
    round_no: int,
) -> dict[str, Any]:
    pids = {**scenario.pids(), "upstream_envoy": bench.upstream.procs["envoy"].pid}
    quiet_wait_s, busy_before_pct = wait_for_quiet(bench.args.quiet_wait)
    stats_before = envoy_counters(scenario.admin_port)
    timers_before = router_timers(scenario)
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    (busy_before, steal_before), loadgen_before = machine_cpu_seconds(), children_cpu_seconds()
    self_before = time.process_time()
    wall = time.perf_counter()
    load = run_load(bench.args.loadgen, scenario, concurrency, duration, script)
    wall = time.perf_counter() - wall
    cpu_after = {name: cpu_seconds(pid) for name, pid in pids.items()}
    busy_after, steal_after = machine_cpu_seconds()
    busy, steal = busy_after - busy_before, steal_after - steal_before
    loadgen_cpu = children_cpu_seconds() - loadgen_before + time.process_time() - self_before
    ours = sum(cpu_after[n] - cpu_before[n] for n in pids) + loadgen_cpu
    ncpu = len(os.sched_getaffinity(0))
    stats_after = envoy_counters(scenario.admin_port)
    timers_after = router_timers(scenario)
    for name, proc in scenario.stack.procs.items():
        if proc.poll() is not None:
            raise RuntimeError(f"{scenario.name}: {name} exited: {scenario.stack.tail(name)}")
    delta = {k: v - stats_before.get(k, 0) for k, v in stats_after.items()}
    requests = int(load["requests"])
    low = delta.get("cluster.tier_low.upstream_rq_total", 0)
    high = delta.get("cluster.tier_high.upstream_rq_total", 0)
    non2xx = int(load["status_errors"])
    socket_errors = sum(
        int(load[k]) for k in ("connect_errors", "read_errors", "write_errors", "timeouts")
    )
    trouble = {k: v for k, v in delta.items() if "ext_proc" in k and EXTPROC_TROUBLE.search(k)}
    cpu_us = {
        name: round((cpu_after[name] - cpu_before[name]) * 1e6 / max(1, requests), 1)
        for name in pids
    }
    return {
        "round": round_no,
        "scenario": scenario.name,
        "concurrency": concurrency,
        "requests": requests,
        "seconds": load["duration_us"] / 1e6,
        "wall_s": round(wall, 2),
        "rps": requests / (load["duration_us"] / 1e6) if load["duration_us"] else 0.0,
        "p50_ms": load["p50_us"] / 1000,
        "p90_ms": load["p90_us"] / 1000,
        "p99_ms": load["p99_us"] / 1000,
        "p999_ms": load["p999_us"] / 1000,
        "mean_ms": load["mean_us"] / 1000,
        "max_ms": load["max_us"] / 1000,
        "non2xx": non2xx,
        "socket_errors": socket_errors,
        "upstream_tier_low": low,
        "upstream_tier_high": high,
        "tier_high_share": round(high / (low + high), 4) if low + high else None,
        "upstream_cx_opened": delta.get("cluster.tier_low.upstream_cx_total", 0)
        + delta.get("cluster.tier_high.upstream_cx_total", 0),
        "extproc_trouble": {k: v for k, v in trouble.items() if v},
        "cpu_us_per_req": cpu_us,
        # Routed only: wall time inside the router's handler per request, from its own
        # metrics (all message phases; "decision" is part of request_body). The rest of the
        # router's CPU is gRPC, asyncio and protobuf: the wire.
        "router_handler_us_per_req": {
            k: round((v - timers_before.get(k, 0.0)) * 1e6 / max(1, requests), 1)
            for k, v in timers_after.items()
            if v - timers_before.get(k, 0.0) > 0
        },
        # Machine CPU busy during the cell, and the part no process of this benchmark used
        # (other work on the host): a high figure means a noisy cell.
        "machine_busy_pct": round(100 * busy / (wall * ncpu), 1),
        "other_cpu_pct": round(max(0.0, 100 * (busy - ours) / (wall * ncpu)), 1),
        "steal_pct": round(100 * steal / (wall * ncpu), 1),
        "quiet_wait_s": quiet_wait_s,
        "busy_before_pct": busy_before_pct,
        "loadgen_cpu_pct": round(100 * loadgen_cpu / wall, 1),
        "wrk_text_rps": load.get("wrk_text_rps"),
    }


# ---- summary --------------------------------------------------------------------------------


def summarize(
    cells: list[dict[str, Any]], scenarios: list[str], concs: list[int]
) -> list[dict[str, Any]]:
    """Per (scenario, concurrency): medians over rounds, ratios paired within a round, and
    least-disturbed figures (best req/s, lowest p50 and CPU of the rounds: other work on
    the host only ever slows a cell down, so the best round is the least disturbed one)."""
    by_key: dict[tuple[str, int, int], dict[str, Any]] = {
        (c["scenario"], c["concurrency"], c["round"]): c for c in cells
    }
    rows: list[dict[str, Any]] = []
    for conc in concs:
        best_rps: dict[str, float] = {}
        for name in scenarios:
            mine = [c for c in cells if c["scenario"] == name and c["concurrency"] == conc]
            if not mine:
                continue
            routed = sum(c["upstream_tier_high"] + c["upstream_tier_low"] for c in mine)
            row: dict[str, Any] = {
                "scenario": name,
                "concurrency": conc,
                "rounds": len(mine),
                "requests": sum(c["requests"] for c in mine),
                "p50_ms": round(statistics.median(c["p50_ms"] for c in mine), 3),
                "p50_ms_best": round(min(c["p50_ms"] for c in mine), 3),
                "p99_ms": round(statistics.median(c["p99_ms"] for c in mine), 3),
                "rps": round(statistics.median(c["rps"] for c in mine), 1),
                "rps_min": round(min(c["rps"] for c in mine), 1),
                "rps_best": round(max(c["rps"] for c in mine), 1),
                "non2xx": sum(c["non2xx"] for c in mine),
                "socket_errors": sum(c["socket_errors"] for c in mine),
                "tier_high_share": round(
                    sum(c["upstream_tier_high"] for c in mine) / max(1, routed), 4
                ),
                "extproc_trouble": sum(sum(c["extproc_trouble"].values()) for c in mine),
                "other_cpu_pct_median": statistics.median(c["other_cpu_pct"] for c in mine),
                "other_cpu_pct_max": max(c["other_cpu_pct"] for c in mine),
                "steal_pct_max": max(c["steal_pct"] for c in mine),
            }
            best_rps[name] = row["rps_best"]
            handler = [
                sum(v for k, v in c["router_handler_us_per_req"].items() if k != "decision")
                for c in mine
                if c["router_handler_us_per_req"]
            ]
            row["router_handler_us_per_req"] = (
                round(statistics.median(handler), 1) if handler else None
            )
            for proc in ("extproc", "front_envoy", "upstream_envoy"):
                vals = [c["cpu_us_per_req"][proc] for c in mine if proc in c["cpu_us_per_req"]]
                row[f"{proc}_cpu_us_per_req"] = round(statistics.median(vals), 1) if vals else None
                row[f"{proc}_cpu_us_per_req_best"] = round(min(vals), 1) if vals else None
            bases = (
                ()
                if name == "direct"
                else ("direct",)
                if name in TRIVIALS
                else ("direct", *TRIVIALS)
            )
            for base in bases:
                ratios, added = [], []
                for c in mine:
                    ref = by_key.get((base, conc, c["round"]))
                    if ref and ref["rps"]:
                        ratios.append(c["rps"] / ref["rps"])
                        added.append(c["p50_ms"] - ref["p50_ms"])
                if ratios:
                    row[f"rps_vs_{base}"] = round(statistics.median(ratios), 3)
                    row[f"added_p50_ms_vs_{base}"] = round(statistics.median(added), 3)
                if best_rps.get(base):
                    row[f"rps_best_vs_{base}"] = round(row["rps_best"] / best_rps[base], 3)
            if name.startswith("routed"):
                # rps_vs_floor etc. come from the loop above (base "floor", if measured).
                twin = TWIN.get(name, "trivial")
                row["twin"] = twin
                for key in ("rps_vs", "rps_best_vs", "added_p50_ms_vs"):
                    row[f"{key}_twin"] = row.get(f"{key}_{twin}")
            rows.append(row)
    return rows


def fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "–"
    return format(value, spec)


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of the medians (the figures the brief asks for)."""
    head = (
        "| scenario | c | p50 ms | p99 ms | req/s | vs direct | vs floor | vs tuned twin "
        "| added p50 ms | ext_proc CPU µs/req | front Envoy CPU µs/req | errors "
        "| tier_high share |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        lines.append(
            f"| {r['scenario']} | {r['concurrency']} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
            f"| {r['rps']:.0f} | {fmt(r.get('rps_vs_direct'), '.0%')} "
            f"| {fmt(r.get('rps_vs_floor'), '.2f')} "
            f"| {fmt(r.get('rps_vs_twin'), '.2f')} "
            f"| {fmt(r.get('added_p50_ms_vs_direct'), '+.2f')} "
            f"| {fmt(r.get('extproc_cpu_us_per_req'), '.0f')} "
            f"| {fmt(r.get('front_envoy_cpu_us_per_req'), '.0f')} "
            f"| {r['non2xx'] + r['socket_errors'] + r['extproc_trouble']} "
            f"| {r['tier_high_share']:.0%} |"
        )
    return "\n".join(lines)


def best_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of the least-disturbed round of each cell."""
    head = (
        "| scenario | c | best p50 ms | best req/s | vs direct | vs floor | vs tuned twin "
        "| lowest ext_proc CPU µs/req | router handler µs/req | other CPU % (median) |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        lines.append(
            f"| {r['scenario']} | {r['concurrency']} | {r['p50_ms_best']:.2f} "
            f"| {r['rps_best']:.0f} | {fmt(r.get('rps_best_vs_direct'), '.0%')} "
            f"| {fmt(r.get('rps_best_vs_floor'), '.2f')} "
            f"| {fmt(r.get('rps_best_vs_twin'), '.2f')} "
            f"| {fmt(r.get('extproc_cpu_us_per_req_best'), '.0f')} "
            f"| {fmt(r.get('router_handler_us_per_req'), '.0f')} "
            f"| {r['other_cpu_pct_median']:.0f} |"
        )
    return "\n".join(lines)


def target_verdict(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's targets, from the medians of paired rounds: at c=16 the router in fast
    mode >= 1.25x the floor's req/s with <= 600 µs ext_proc CPU per request; the router in
    full mode (and any variant) within 15% of the floor at every concurrency. The ratio to
    each scenario's tuned twin (same messages, tuned do-nothing handler) is printed beside
    it: that one is what the router's own Python costs beyond the wire."""
    lines: list[str] = []
    checks: list[bool] = []
    for r in rows:
        ratio = r.get("rps_vs_floor")
        if ratio is None or not r["scenario"].startswith("routed"):
            continue
        twin = r.get("rps_vs_twin")
        cpu = r.get("extproc_cpu_us_per_req")
        if r["scenario"] == "routed-fast":
            if r["concurrency"] != 16:
                continue
            met = ratio >= FAST_VS_FLOOR_MIN and cpu is not None and cpu <= FAST_CPU_US_MAX
            want = f">= {FAST_VS_FLOOR_MIN}x the floor, <= {FAST_CPU_US_MAX:.0f} µs CPU"
        else:
            met = ratio >= FULL_VS_FLOOR_MIN
            want = f">= {FULL_VS_FLOOR_MIN}x the floor"
        checks.append(met)
        lines.append(
            f"target c={r['concurrency']}: {r['scenario']} at {ratio:.2f}x the floor's req/s, "
            f"{fmt(cpu, '.0f')} µs CPU/req (want {want}: {'met' if met else 'NOT met'}); "
            f"{fmt(twin, '.2f')}x its tuned twin {r.get('twin')}; "
            f"{r.get('rps_vs_direct', 0):.0%} of Envoy direct"
        )
    return {"met": all(checks) if checks else None, "lines": lines}


# ---- main -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, help="seconds per cell (default 8; 3 with --quick)")
    p.add_argument("--concurrency", default="1,16", help="comma list of connection counts")
    p.add_argument("--rounds", type=int, help="interleaved rounds (default 3; 1 with --quick)")
    p.add_argument("--warmup", type=float, help="seconds of warm-up per scenario (default 2)")
    p.add_argument("--quick", action="store_true", help="short run: 3 s cells, 1 round")
    p.add_argument("--out", help="JSON results path (default bench/results/overhead[-quick].json)")
    p.add_argument(
        "--scenarios",
        default=",".join(ALL_SCENARIOS),
        help=f"comma list from {', '.join(ALL_SCENARIOS)}",
    )
    p.add_argument("--router-config", help="router YAML for the routed scenario (default config)")
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=CONFIG",
        help="extra scenario routed-NAME: the router with this YAML config (repeatable)",
    )
    p.add_argument("--envoy-concurrency", type=int, default=1, help="front Envoy worker threads")
    p.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    p.add_argument(
        "--upstream-reconnect",
        action="store_true",
        help="drop the upstream's buffer filter: it then answers before reading the body and "
        "closes the connection, so the front Envoy reconnects per request (for comparison)",
    )
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=10.0,
        help="before each cell, wait up to this many seconds for the machine to be idle "
        "(<15%% busy); 0 disables",
    )
    p.add_argument("--keep-logs", action="store_true", help="keep process logs (path printed)")
    p.add_argument(
        "--skip-checks",
        action="store_true",
        help="no routing checks before and after the load (A/B probes that change the "
        "router's answers, see bench/ab/sitecustomize.py); results are marked",
    )
    p.add_argument("--serve-trivial", metavar="HOST:PORT", help=argparse.SUPPRESS)
    p.add_argument("--fast", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--plain", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve_trivial:
        return args
    args.duration = args.duration or (3.0 if args.quick else 8.0)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.warmup = 2.0 if args.warmup is None else args.warmup
    args.concurrency = [int(c) for c in str(args.concurrency).split(",") if c.strip()]
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    args.variants = {}
    for item in args.variant:
        name, sep, config = item.partition("=")
        if not sep or not re.fullmatch(r"[a-z0-9_-]{1,20}", name) or not Path(config).is_file():
            p.error(f"--variant {item!r}: want NAME=CONFIG with an existing config file")
        args.variants[f"routed-{name}"] = config
    unknown = set(args.scenarios) - set(ALL_SCENARIOS)
    if unknown or not (args.scenarios or args.variants):
        p.error(f"unknown scenarios: {sorted(unknown)}")
    if not all(1 <= c <= 1024 for c in args.concurrency) or not args.concurrency:
        p.error("--concurrency: numbers from 1 to 1024")
    if not 1 <= args.rounds <= 50 or not 1 <= args.duration <= 600:
        p.error("--rounds 1..50, --duration 1..600")
    if args.loadgen == "auto":
        args.loadgen = "wrk" if shutil.which("wrk") else "python"
    elif args.loadgen == "wrk" and not shutil.which("wrk"):
        p.error("wrk not found (apt-get install -y wrk), or use --loadgen python")
    default_out = RESULTS_DIR / ("overhead-quick.json" if args.quick else "overhead.json")
    args.out = Path(args.out) if args.out else default_out
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_trivial:
        serve_trivial(args.serve_trivial, args.fast, args.plain)
        return 0
    from extproc.stack.envoy import envoy_binary

    if args.loadgen == "python":
        print(
            "NOTE: wrk not used; load comes from the built-in Python asyncio load generator, "
            "which shares the CPUs with what it measures. Numbers are labelled loadgen=python.",
            flush=True,
        )
    info = machine_info(envoy_binary(), args.loadgen)
    log_dir = Path(tempfile.mkdtemp(prefix="extproc-bench-"))
    script = log_dir / "post.lua"
    write_wrk_script(script)
    bench = Bench(args, log_dir)
    cells: list[dict[str, Any]] = []
    checks: dict[str, Any] = {}
    started = time.monotonic()
    try:
        bench.start()
        for name, scenario in bench.scenarios.items():
            if args.skip_checks:
                checks[name] = wait_until_answering(scenario)
            else:
                checks[name] = check_scenario(scenario)
        if not args.skip_checks:
            print(f"routing checks passed: {', '.join(checks)}", flush=True)
        if args.warmup > 0:
            for scenario in bench.scenarios.values():
                run_load(args.loadgen, scenario, max(args.concurrency), args.warmup, script)
        names = list(bench.scenarios)
        for round_no in range(args.rounds):
            shift = round_no % len(names)
            order = names[shift:] + names[:shift]
            for conc in args.concurrency:
                for name in order:
                    cell = run_cell(
                        bench, bench.scenarios[name], conc, args.duration, script, round_no
                    )
                    cells.append(cell)
                    print(
                        f"round {round_no + 1}/{args.rounds} {name:>7} c={conc:<3} "
                        f"p50 {cell['p50_ms']:6.2f} ms  p99 {cell['p99_ms']:6.2f} ms  "
                        f"{cell['rps']:8.0f} req/s  ext_proc CPU "
                        f"{fmt(cell['cpu_us_per_req'].get('extproc'), '.0f'):>5} µs/req  "
                        f"non-2xx {cell['non2xx']}  errors {cell['socket_errors']}  "
                        f"other CPU {cell['other_cpu_pct']:.0f}%  steal {cell['steal_pct']:.0f}%"
                        + (
                            f"  ext_proc trouble {cell['extproc_trouble']}"
                            if cell["extproc_trouble"]
                            else ""
                        ),
                        flush=True,
                    )
        for name, scenario in bench.scenarios.items():  # routing still right after the load
            if not args.skip_checks:
                checks[f"{name}_after"] = check_scenario(scenario, timeout_s=2.0, after_load=True)
    finally:
        bench.stop()
        if args.keep_logs:
            print(f"logs kept in {log_dir}")
        else:
            shutil.rmtree(log_dir, ignore_errors=True)
    info["loadavg_end"] = os.getloadavg()
    info["total_s"] = round(time.monotonic() - started, 1)
    rows = summarize(cells, list(bench.scenarios), args.concurrency)
    print()
    print("Medians over rounds (ratios paired within a round):")
    print(table(rows))
    print("\nLeast-disturbed round of each cell:")
    print(best_table(rows))
    verdict = target_verdict(rows)
    for line in verdict["lines"]:
        print(line)
    result = {
        "benchmark": "routing overhead: Envoy direct vs trivial ext_proc vs router",
        "machine": info,
        "settings": {
            "duration_s": args.duration,
            "rounds": args.rounds,
            "warmup_s": args.warmup,
            "concurrency": args.concurrency,
            "scenarios": list(bench.scenarios),
            "envoy_concurrency": args.envoy_concurrency,
            "wrk_threads": 1,
            "router_config": args.router_config or "defaults",
            "variants": args.variants,
            "bodies": [b.decode() for b in BODIES],
            "body_bytes": [len(b) for b in BODIES],
            "path": API_PATH,
            "envoy_template": "envoy/two-tier.yaml (direct: ext_proc filter removed)",
            "upstream": "bench/envoy-direct-upstream.yaml (direct_response)"
            + (
                " without its buffer filter (--upstream-reconnect)"
                if args.upstream_reconnect
                else ""
            ),
            "code_sha256": code_fingerprint(),
            "routing_checks": not args.skip_checks,
            "ab_variant": os.environ.get("EXTPROC_AB") or None,
        },
        "checks": checks,
        "summary": rows,
        "target": verdict,
        "cells": cells,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    csv_path = args.out.with_suffix(".csv")
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        fields = sorted({k for row in rows for k in row})
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    print(f"\nwrote {args.out} and {csv_path}")
    bad = sum(r["non2xx"] + r["socket_errors"] + r["extproc_trouble"] for r in rows)
    if bad:
        print(f"FAILED: {bad} errors (non-2xx, socket errors or ext_proc failures); see cells")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
