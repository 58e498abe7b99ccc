"""PNG plots from the benchmark JSON in bench/results/.

  * latency CDF per scenario, one figure per source and concurrency (from <source>.json,
    or <source>-quick.json with --quick or when it is the only one):
    litellm_compare (wrk's percentiles 1..99.99 of each scenario's least-disturbed round),
    overhead (p50/p90/p99/p99.9, medians over rounds), tiers (per tier, timed per request);
  * throughput vs concurrency per scenario (litellm_compare, overhead), log scale.

    python bench/plots.py                  # reads bench/results/*.json, writes *.png there
    python bench/plots.py --quick          # prefer the --quick runs' files
    python bench/plots.py --results DIR --out DIR

Needs matplotlib (`pip install matplotlib`); without it, prints a message and exits 3.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
SKIPPED = 3
Curve = list[tuple[float, float]]  # (latency ms, percentile)
# One colour per scenario in every figure.
COLORS = {
    "direct": "tab:blue",
    "litellm": "tab:orange",
    "routed": "tab:green",
    "routed-fast": "tab:red",
    "trivial": "tab:purple",
    "trivial-2msg": "tab:brown",
    "trivial-fast": "tab:pink",
    "floor": "tab:gray",
}


def color(label: str) -> str | None:
    return COLORS.get(label)


def _load(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data


def _pick(results: Path, stem: str, quick: bool) -> Path | None:
    """<stem>.json (with quick: <stem>-quick.json), else the other one."""
    names = [f"{stem}.json", f"{stem}-quick.json"]
    for name in reversed(names) if quick else names:
        if (results / name).exists():
            return results / name
    return None


def compare_curves(data: dict[str, Any]) -> dict[int, dict[str, Curve]]:
    out: dict[int, dict[str, Curve]] = {}
    for row in data.get("summary", []):
        pts = [(float(ms), float(p)) for p, ms in row.get("percentiles_ms", []) if ms > 0]
        if pts:
            out.setdefault(int(row["concurrency"]), {})[row["scenario"]] = pts
    return out


def overhead_curves(data: dict[str, Any]) -> dict[int, dict[str, Curve]]:
    out: dict[int, dict[str, Curve]] = {}
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for cell in data.get("cells", []):
        groups.setdefault((cell["scenario"], int(cell["concurrency"])), []).append(cell)
    for (name, conc), cells in groups.items():
        pts = [
            (statistics.median(float(c[key]) for c in cells), p)
            for key, p in (("p50_ms", 50.0), ("p90_ms", 90.0), ("p99_ms", 99.0), ("p999_ms", 99.9))
            if all(key in c for c in cells)
        ]
        if pts:
            out.setdefault(conc, {})[name] = pts
    return out


def tier_curves(data: dict[str, Any]) -> dict[int, dict[str, Curve]]:
    out: dict[int, dict[str, Curve]] = {}
    for run in data.get("runs", []):
        for tier, stats in run.get("tiers", {}).items():
            cdf = stats.get("latency_ms", {}).get("cdf")
            if cdf:
                label = f"{run['scenario']} {tier}"
                pts = [(float(ms), float(p)) for p, ms in cdf if ms > 0]
                out.setdefault(int(run["concurrency"]), {})[label] = pts
    return out


def throughput(data: dict[str, Any]) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    for row in data.get("summary", []):
        out.setdefault(row["scenario"], []).append((int(row["concurrency"]), float(row["rps"])))
    return {k: sorted(v) for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="PNG plots from bench/results/*.json")
    p.add_argument("--results", type=Path, default=RESULTS_DIR)
    p.add_argument("--out", type=Path, help="output folder (default: --results)")
    p.add_argument("--quick", action="store_true", help="prefer <source>-quick.json")
    args = p.parse_args(argv)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("SKIP plots: matplotlib is not installed (pip install matplotlib)")
        return SKIPPED
    out_dir: Path = args.out or args.results
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    sources = {
        "litellm_compare": compare_curves,
        "overhead": overhead_curves,
        "tiers": tier_curves,
    }
    loaded: dict[str, dict[str, Any]] = {}
    for stem, curves_of in sources.items():
        path = _pick(args.results, stem, args.quick)
        data = _load(path) if path else None
        if path is None or data is None:
            print(f"plots: no {stem}.json in {args.results}; skipped")
            continue
        loaded[stem] = data
        for conc, curves in sorted(curves_of(data).items()):
            fig, ax = plt.subplots(figsize=(7, 4.5))
            for label, pts in sorted(curves.items()):
                xs, ys = [x for x, _ in pts], [y for _, y in pts]
                ax.plot(xs, ys, marker=".", label=label, color=color(label))
            ax.set_xscale("log")
            ax.set_xlabel("latency (ms, log scale)")
            ax.set_ylabel("percentile")
            ax.set_ylim(0, 100)
            ax.grid(True, which="both", alpha=0.3)
            ax.set_title(f"{stem}: latency CDF at concurrency {conc} ({path.name})")
            ax.legend(fontsize="small")
            target = out_dir / f"{stem}-latency-cdf-c{conc}.png"
            fig.tight_layout()
            fig.savefig(target, dpi=110)
            plt.close(fig)
            written.append(target)
    panels = [(s, throughput(d)) for s, d in loaded.items() if s != "tiers"]
    panels = [(s, t) for s, t in panels if t]
    if panels:
        fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
        for ax, (stem, series) in zip(axes[0], panels, strict=True):
            for label, series_pts in sorted(series.items()):
                xs2, ys2 = [c for c, _ in series_pts], [r for _, r in series_pts]
                ax.plot(xs2, ys2, marker="o", label=label, color=color(label))
            concs = sorted({c for pts in series.values() for c, _ in pts})
            ax.set_xscale("log", base=2)
            ax.set_xticks(concs, [str(c) for c in concs])
            ax.set_yscale("log")
            ax.set_xlabel("concurrency (connections)")
            ax.set_ylabel("req/s (log scale)")
            ax.set_title(f"{stem}: throughput vs concurrency")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize="small")
        target = out_dir / "throughput-vs-concurrency.png"
        fig.tight_layout()
        fig.savefig(target, dpi=110)
        plt.close(fig)
        written.append(target)
    for path in written:
        print(f"wrote {path}")
    return 0 if written else SKIPPED


if __name__ == "__main__":
    raise SystemExit(main())
