"""One entry point for the benchmarks: run them, collect their JSON, print one table.

    python bench/run_bench.py all --quick           # every benchmark, short settings
    python bench/run_bench.py overhead litellm      # some of them, full settings
    python bench/run_bench.py litellm --install-litellm   # first LiteLLM run: install it

Targets (run as subprocesses with their own flags; each prints its own table and writes its
own JSON under bench/results/, `-quick` in the name with --quick):

  pipeline   bench/pipeline.py            decision micro-benchmarks, in process
  replay     bench/replay_throughput.py   offline replay throughput
  semantic   bench/semantic.py            embedder/classifier/index (needs the semantic extra)
  overhead   bench/overhead.py            Envoy direct vs the floor and do-nothing twins vs router
  tiers      bench/load.py                per-tier stats of a routed run (wrk + Lua)
  litellm    bench/litellm_compare.py     LiteLLM proxy vs router (full, fast) vs Envoy direct
  soak       bench/soak.py                long run through Envoy + router, leak watch
  all        all of the above, in this order

Then bench/plots.py draws PNGs when matplotlib is installed. The collected figures go to
bench/results/summary.json and summary.csv; benchmarks not run this time keep their last
entry there (with its date). A benchmark that cannot run (semantic extra, LiteLLM or wrk
missing) is skipped with a message; the exit status is 1 if one failed.
"""

from __future__ import annotations

import argparse
import collections
import csv
import datetime as dt
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
SKIPPED = 3  # exit status of a benchmark that skipped itself (load.py, litellm_compare.py)
COLUMNS = (
    "benchmark",
    "case",
    "concurrency",
    "p50_ms",
    "p99_ms",
    "rate",
    "unit",
    "errors",
    "note",
)
Row = dict[str, Any]


def _r(value: Any, digits: int = 2) -> Any:
    return round(float(value), digits) if isinstance(value, int | float) else value


# ---- reading each benchmark's JSON -----------------------------------------------------------


def rows_pipeline(d: dict[str, Any]) -> list[Row]:
    return [
        {
            "case": f"{r['bench']}: {r['case']}",
            "rate": r["per_s"],
            "unit": "calls/s",
            "note": f"{r['us_per_call']} µs/call",
        }
        for r in d["rows"]
    ]


def rows_replay(d: dict[str, Any]) -> list[Row]:
    rows = [{"case": "load + parse trace", "rate": _r(d["load_lines_per_s"], 0), "unit": "lines/s"}]
    for name, rate in d["decisions_per_s_precomputed"].items():
        rows.append({"case": f"decide: {name}", "rate": _r(rate, 0), "unit": "decisions/s"})
    for name, rate in d["end_to_end_per_s"].items():
        rows.append({"case": f"end to end: {name}", "rate": _r(rate, 0), "unit": "requests/s"})
    return rows


def rows_semantic(d: dict[str, Any]) -> list[Row]:
    one = d["embed"]["one_query_ms"]
    rows = [
        {
            "case": f"embed 1 query ({d['embedder']})",
            "concurrency": 1,
            "p50_ms": _r(one["p50"]),
            "p99_ms": _r(one["p99"]),
        }
    ]
    for run in d["classify"]:
        rows.append(
            {
                "case": f"classify wait={run['max_wait_ms']:g} ms batch={run['max_batch']}",
                "concurrency": run["concurrency"],
                "p50_ms": _r(run["p50_ms"]),
                "p99_ms": _r(run["p99_ms"]),
                "rate": _r(run["throughput_per_s"], 0),
                "unit": "queries/s",
            }
        )
    return rows


def rows_overhead(d: dict[str, Any]) -> list[Row]:
    rows = []
    for r in d["summary"]:
        vs = r.get("rps_vs_direct")
        floor = r.get("rps_vs_floor")
        cpu = r.get("extproc_cpu_us_per_req")
        rows.append(
            {
                "case": r["scenario"],
                "concurrency": r["concurrency"],
                "p50_ms": _r(r["p50_ms"]),
                "p99_ms": _r(r["p99_ms"]),
                "rate": _r(r["rps"], 0),
                "unit": "req/s",
                "errors": r["non2xx"] + r["socket_errors"] + r["extproc_trouble"],
                "note": ", ".join(
                    x
                    for x in (
                        f"{vs:.0%} of direct" if vs is not None else "",
                        f"{floor:.2f}x the floor" if floor is not None else "",
                        f"ext_proc CPU {cpu:.0f} µs/req" if cpu is not None else "",
                    )
                    if x
                ),
            }
        )
    return rows


def rows_tiers(d: dict[str, Any]) -> list[Row]:
    duration = float(d["settings"]["duration_s"])
    return [
        {
            "case": f"{r['scenario']} {r['tier']} ({r['models']})",
            "concurrency": r["concurrency"],
            "p50_ms": r["p50_ms"],
            "p99_ms": r["p99_ms"],
            "rate": _r(r["responses"] / duration, 0),
            "unit": "resp/s",
            "errors": round(r["responses"] * (1 - r["success_rate"])),
            "note": f"share {r['share']:.0%}, success {r['success_rate']:.2%}, tokens in/out "
            f"{r['prompt_tokens']}/{r['completion_tokens']} (router "
            f"{r['router_prompt_tokens']}/{r['router_completion_tokens']})",
        }
        for r in d["rows"]
    ]


def rows_litellm(d: dict[str, Any]) -> list[Row]:
    rows = []
    for r in d["summary"]:
        note = []
        if r.get("rps_x_litellm") is not None:
            note.append(
                f"{r['rps_x_litellm']:.1f}x LiteLLM req/s, p50 1/{r['p50_div_litellm']:.1f}"
            )
        note.append(f"front CPU {r['front_cpu_us_per_req']:.0f} µs/req")
        if not r["proxied"]:
            note.append("NOT PROXIED")
        rows.append(
            {
                "case": r["scenario"],
                "concurrency": r["concurrency"],
                "p50_ms": _r(r["p50_ms"]),
                "p99_ms": _r(r["p99_ms"]),
                "rate": _r(r["rps"], 0),
                "unit": "req/s",
                "errors": r["non2xx"] + r["socket_errors"],
                "note": "; ".join(note),
            }
        )
    return rows


def rows_soak(d: dict[str, Any]) -> list[Row]:
    growth = d.get("rss_growth_mb")
    return [
        {
            "case": f"{d['requests']:,} requests in {d['duration_s']} s",
            "concurrency": d["concurrency"],
            "p50_ms": _r(d["p50_ms"]),
            "p99_ms": _r(d["p99_ms"]),
            "rate": _r(d["rps"], 0),
            "unit": "req/s",
            "errors": d["non_2xx"] + d["socket_errors"],
            "note": f"router RSS growth {growth:.1f} MB" if growth is not None else "",
        }
    ]


# ---- the targets -------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    script: str
    stem: str  # results/<stem>.json, results/<stem>-quick.json
    full: tuple[str, ...]
    quick: tuple[str, ...]
    timeout_s: int
    rows: Callable[[dict[str, Any]], list[Row]]
    writes_csv: bool = False


TARGETS: dict[str, Target] = {
    "pipeline": Target("pipeline.py", "pipeline", (), ("--n", "4000"), 900, rows_pipeline),
    "replay": Target(
        "replay_throughput.py",
        "replay_throughput",
        (),
        ("-n", "5000", "--rounds", "1"),
        1200,
        rows_replay,
    ),
    "semantic": Target("semantic.py", "semantic", (), ("--quick",), 1800, rows_semantic),
    "overhead": Target("overhead.py", "overhead", (), ("--quick",), 2400, rows_overhead, True),
    "tiers": Target("load.py", "tiers", (), ("--quick",), 900, rows_tiers, True),
    "litellm": Target(
        "litellm_compare.py", "litellm_compare", (), ("--quick",), 2400, rows_litellm, True
    ),
    "soak": Target(
        "soak.py", "soak", (), ("--requests", "20000", "--warmup-s", "5"), 2700, rows_soak
    ),
}


def skip_reason(name: str) -> str | None:
    """Why a target cannot run here, checked before starting it (None: it can)."""
    if name == "semantic" and importlib.util.find_spec("sentence_transformers") is None:
        return (
            "the semantic extra is not installed (pip install -e '.[semantic]'); "
            "`python bench/semantic.py --hashing` measures the numpy-only embedder"
        )
    if name in ("soak", "tiers") and shutil.which("wrk") is None:
        return "wrk not found (apt-get install -y wrk)"
    return None


def run_target(name: str, quick: bool, extra: list[str]) -> dict[str, Any]:
    """Run one benchmark, echoing its output; return what happened."""
    target = TARGETS[name]
    out = RESULTS_DIR / f"{target.stem}{'-quick' if quick else ''}.json"
    flags = [*(target.quick if quick else target.full), *extra]
    rel_out = str(out.relative_to(REPO_DIR))
    argv = [sys.executable, f"bench/{target.script}", *flags, "--out", rel_out]  # cwd: the repo
    record: dict[str, Any] = {
        "command": " ".join(["python", *argv[1:]]),
        "json": rel_out,
        "date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }
    reason = skip_reason(name)
    if reason:
        print(f"\n=== {name}: SKIPPED — {reason}", flush=True)
        return {**record, "status": "skipped", "message": reason}
    print(f"\n=== {name}: {record['command']}", flush=True)
    tail: collections.deque[str] = collections.deque(maxlen=30)
    started = time.monotonic()
    before = out.stat().st_mtime if out.exists() else None
    proc = subprocess.Popen(
        argv,
        cwd=REPO_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    assert proc.stdout is not None
    deadline = started + target.timeout_s
    timed_out = False
    for line in proc.stdout:
        sys.stdout.write(line)
        tail.append(line.rstrip())
        if time.monotonic() > deadline:
            timed_out = True
            proc.terminate()
            break
    try:
        rc = proc.wait(max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        timed_out = True
        proc.terminate()
        rc = proc.wait(30)
    record["seconds"] = round(time.monotonic() - started, 1)
    record["rc"] = rc
    record["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    fresh = out.exists() and out.stat().st_mtime != before
    if rc == SKIPPED:
        message = next((ln for ln in tail if "SKIP" in ln), "skipped")
        return {**record, "status": "skipped", "message": message}
    if timed_out:
        return {**record, "status": "failed", "message": f"timed out after {target.timeout_s} s"}
    if not fresh:
        return {
            **record,
            "status": "failed",
            "message": f"exit {rc}, no JSON: {tail[-1] if tail else ''}",
        }
    try:
        rows = target.rows(json.loads(out.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return {**record, "status": "failed", "message": f"could not read {out.name}: {exc!r}"}
    status = "ok" if rc == 0 else "failed"
    message = "" if rc == 0 else f"exit {rc} (errors reported in its output; JSON kept)"
    if name == "litellm":
        with open(out, encoding="utf-8") as f:
            record["goal"] = json.load(f).get("goal")
    return {**record, "status": status, "message": message, "rows": rows}


# ---- summary ----------------------------------------------------------------------------


def load_previous(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data.get("runs", {}) if isinstance(data.get("runs"), dict) else {}


def summary_rows(runs: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for name in TARGETS:
        for row in runs.get(name, {}).get("rows", []):
            rows.append({col: row.get(col) for col in COLUMNS} | {"benchmark": name})
    return rows


def fmt(value: Any, spec: str = "") -> str:
    if value is None or value == "":
        return "-"
    return format(value, spec) if spec else str(value)


def print_table(runs: dict[str, Any], names: list[str]) -> None:
    rows = [r for r in summary_rows(runs) if r["benchmark"] in names]
    head = ("benchmark", "case", "c", "p50 ms", "p99 ms", "rate", "unit", "err", "note")
    cells = [
        (
            r["benchmark"],
            str(r["case"])[:58],
            fmt(r["concurrency"]),
            fmt(r["p50_ms"], ".2f"),
            fmt(r["p99_ms"], ".2f"),
            fmt(r["rate"], ",.0f"),
            fmt(r["unit"]),
            fmt(r["errors"]),
            fmt(r["note"]),
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(head)] if cells else []
    if cells:
        print("\n" + "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip())
        for c in cells:
            print("  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)).rstrip())
    print()
    for name in names:
        run = runs.get(name, {})
        status = run.get("status", "?")
        message = f" — {run['message']}" if run.get("message") else ""
        if run.get("skipped_now"):
            message += f" (skipped now: {run['skipped_now']}; figures from {run['date_utc']})"
        took = f" in {run['seconds']:.0f} s" if "seconds" in run else ""
        print(f"{name:<9} {status}{took}{message}")
        for line in (run.get("goal") or {}).get("lines", []):
            print(f"          {line}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("targets", nargs="*", help=f"from {', '.join(TARGETS)}, all (default: all)")
    p.add_argument("--quick", action="store_true", help="short settings (a few minutes each)")
    p.add_argument(
        "--install-litellm",
        action="store_true",
        help="let litellm_compare.py install 'litellm[proxy]' into its venv "
        "(~/.cache/extproc-router/litellm-venv)",
    )
    p.add_argument("--no-plots", action="store_true", help="do not run bench/plots.py")
    args = p.parse_args(argv)
    unknown = set(args.targets) - {*TARGETS, "all"}
    if unknown:
        p.error(f"unknown targets {sorted(unknown)}: choose from {', '.join(TARGETS)}, all")
    names = list(TARGETS) if "all" in args.targets or not args.targets else []
    for name in args.targets:
        if name != "all" and name not in names:
            names.append(name)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    summary_json = RESULTS_DIR / "summary.json"
    runs = load_previous(summary_json)
    for name in names:
        extra = ["--install"] if name == "litellm" and args.install_litellm else []
        run = run_target(name, args.quick, extra)
        run["quick"] = args.quick
        previous = runs.get(name, {})
        if run["status"] == "skipped" and previous.get("rows"):
            # keep the last figures, and say that this run skipped it
            run = {**previous, "skipped_now": f"{run['date_utc']}: {run['message']}"}
        runs[name] = run
    plots = "not run (--no-plots)"
    if not args.no_plots:
        proc = subprocess.run(
            [sys.executable, "bench/plots.py", *(["--quick"] if args.quick else [])],
            cwd=REPO_DIR,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        plots = (proc.stdout + proc.stderr).strip() or f"exit {proc.returncode}"
    rows = summary_rows(runs)
    doc: dict[str, Any] = {
        "generated_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "columns": list(COLUMNS),
        "runs": runs,
        "rows": rows,
        "plots": plots,
    }
    summary_json.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    with open(RESULTS_DIR / "summary.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=[*COLUMNS, "date_utc", "quick"])
        writer.writeheader()
        for row in rows:
            run = runs.get(row["benchmark"], {})
            writer.writerow({**row, "date_utc": run.get("date_utc"), "quick": run.get("quick")})
    print_table(runs, names)
    print(f"\nplots: {plots}")
    print(f"wrote {summary_json.relative_to(REPO_DIR)} and bench/results/summary.csv")
    return 1 if any(runs[n].get("status") == "failed" for n in names) else 0


if __name__ == "__main__":
    raise SystemExit(main())
