"""Soak: a long, bounded run through Envoy + router at steady concurrency, watching the
router for leaks.

Mixed traffic (wrk + a Lua script rotating bodies): short and long prompts, simple and
complex, streaming and non-streaming. Samples the router's RSS, open file descriptors and
event-loop task count from its /metrics every few seconds. Reports errors (target 0), RSS
growth after warm-up (target < 20 MB), and whether fds and tasks stay flat.

    python bench/soak.py                      # 200,000 requests at concurrency 16
    python bench/soak.py --requests 20000     # shorter
Writes bench/results/soak.json and prints a table. All on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from extproc.stack.up import Stack, StackPorts  # noqa: E402

BODIES = [
    {"model": "auto", "messages": [{"role": "user", "content": "Hi! How are you?"}]},
    {
        "model": "auto",
        "stream": True,
        "messages": [{"role": "user", "content": "Tell me a short joke."}],
    },
    {
        "model": "auto",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {
                "role": "user",
                "content": "Prove that there are infinitely "
                "many primes and write a Python sieve; analyse it.",
            },
        ],
    },
    {
        "model": "auto",
        "stream": True,
        "messages": [
            {
                "role": "user",
                "content": "Summarise this report in one line: "
                + "quarterly revenue grew in every region. " * 200,
            }
        ],
    },
]


def lua_script(path: Path) -> None:
    bodies = ", ".join("[[" + orjson.dumps(b).decode() + "]]" for b in BODIES)
    path.write_text(f"""
local bodies = {{ {bodies} }}
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i + 1
  return wrk.format(nil, "/v1/chat/completions", nil, bodies[(i % #bodies) + 1])
end
local bad = 0
response = function(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("SOAK requests=%d non2xx_lua=%d errors_connect=%d errors_read=%d "
    .. "errors_write=%d errors_status=%d errors_timeout=%d p50_us=%d p99_us=%d\\n",
    summary.requests, bad, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout, latency:percentile(50),
    latency:percentile(99)))
end
""")


def sample(admin: int) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{admin}/metrics", timeout=5).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        for name in (
            "process_resident_memory_bytes",
            "process_open_fds",
            "extproc_asyncio_tasks",
            "extproc_streams_active",
        ):
            if line.startswith(name + " "):
                out[name] = float(line.split()[-1])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--requests", type=int, default=200_000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--rate", type=int, default=0, help="unused by wrk; kept for symmetry")
    ap.add_argument("--warmup-s", type=float, default=20.0)
    ap.add_argument("--sample-s", type=float, default=5.0)
    ap.add_argument("--max-minutes", type=float, default=30.0)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "soak.json"))
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install -y wrk")
    tmp = Path(tempfile.mkdtemp(prefix="soak-"))
    stack = Stack(ports=StackPorts.free(), log_dir=tmp)
    stack.start()
    samples: list[tuple[float, dict[str, float]]] = []
    stop = threading.Event()

    def sampler() -> None:
        while not stop.is_set():
            with contextlib.suppress(httpx.HTTPError):
                samples.append((time.monotonic(), sample(stack.ports.router_admin)))
            stop.wait(args.sample_s)

    script = tmp / "soak.lua"
    lua_script(script)
    # measure throughput briefly to size the duration for the requested count
    probe = subprocess.run(
        ["wrk", "-t1", f"-c{args.concurrency}", "-d5s", "-s", str(script), stack.url],
        capture_output=True,
        text=True,
        check=True,
    )
    probe_rps = float(
        next(row.split()[1] for row in probe.stdout.splitlines() if row.startswith("Requests/sec"))
    )
    duration = min(args.max_minutes * 60, max(10.0, args.requests / max(probe_rps, 1.0)))
    thread = threading.Thread(target=sampler, daemon=True)
    started = time.monotonic()
    thread.start()
    run = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{args.concurrency}",
            f"-d{int(duration)}s",
            "--timeout",
            "30s",
            "-s",
            str(script),
            stack.url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    stop.set()
    thread.join(10)
    final = sample(stack.ports.router_admin)
    stack.stop()
    line = next(row for row in run.stdout.splitlines() if row.startswith("SOAK "))
    stats = {k: int(v) for k, v in (part.split("=") for part in line.split()[1:])}
    warm = [s for t, s in samples if t - started >= args.warmup_s] or [s for _, s in samples]
    rss = [s.get("process_resident_memory_bytes", 0.0) for s in warm]
    fds = [s.get("process_open_fds", 0.0) for s in warm]
    tasks = [s.get("extproc_asyncio_tasks", 0.0) for s in warm]
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": {"nproc": __import__("os").cpu_count(), "python": platform.python_version()},
        "concurrency": args.concurrency,
        "duration_s": int(duration),
        "requests": stats["requests"],
        "non_2xx": stats["non2xx_lua"],
        "socket_errors": sum(stats[k] for k in stats if k.startswith("errors_")),
        "rps": stats["requests"] / duration,
        "p50_ms": stats["p50_us"] / 1000.0,
        "p99_ms": stats["p99_us"] / 1000.0,
        "rss_after_warmup_mb": rss[0] / 2**20 if rss else None,
        "rss_end_mb": final.get("process_resident_memory_bytes", 0.0) / 2**20,
        "rss_growth_mb": (max(rss) - rss[0]) / 2**20 if rss else None,
        "fds_min_max": [min(fds), max(fds)] if fds else None,
        "tasks_min_max": [min(tasks), max(tasks)] if tasks else None,
        "samples": [{"t": round(t - started, 1), **s} for t, s in samples],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    rows = [
        (
            "requests",
            f"{result['requests']:,} in {result['duration_s']} s "
            f"({result['rps']:.0f}/s, c={args.concurrency})",
        ),
        ("errors", f"non-2xx {result['non_2xx']}, socket errors {result['socket_errors']}"),
        ("latency", f"p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms"),
        (
            "router RSS",
            f"{result['rss_after_warmup_mb']:.1f} MB after warm-up → "
            f"{result['rss_end_mb']:.1f} MB (growth {result['rss_growth_mb']:.1f} MB)",
        ),
        ("open fds", f"{result['fds_min_max']}"),
        ("event-loop tasks", f"{result['tasks_min_max']}"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
