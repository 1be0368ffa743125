"""Search efficiency, side by side: held-out score at equal budget, and wall-clock, over many seeds.

Three systems run the same workloads (``_search_tasks.py``) with the same simulated reflection model,
the same evaluator, the same budget and the same number of evaluation workers:

* ``honing``: honing's default settings;
* ``honing-seq``: honing with one proposal in flight (its sequential search);
* ``gepa``: GEPA 0.1.4's defaults, in its own venv (``bench/setup_gepa_venv.sh``).

Each run is a subprocess (``_search_worker.py``); the systems take turns within every (workload,
seed) pair, and the order rotates from seed to seed, so a machine that drifts favours none of them.
Records are appended to a JSON file as they finish, and a rerun skips what is already there, so a
long benchmark can be run in slices. The table gives, per workload and system, the median held-out
score of the returned best candidate, the median wall-clock, the evaluator calls (median and max,
which must not exceed the budget) and the speed-up against GEPA; ``--plot`` writes one PNG per
workload with the median best-so-far held-out score against metric calls and against seconds.

    python bench/search.py --seeds 10                       # all workloads, all systems
    python bench/search.py --seeds 3 --workloads hints --systems honing,gepa
    python bench/search.py --report bench/results/search.json --plot bench/results
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _benchmarks_md as benchmarks_md  # noqa: E402
import _search_tasks as tasks  # noqa: E402

GEPA_PYTHON = HERE.parent / ".bench-venv" / "gepa" / "bin" / "python"
SYSTEMS = ("honing", "honing-seq", "gepa")
TARGET_SPEEDUP = 4.0
TARGET_SEQ_GAP = 0.02


def run_one(system: str, workload: str, seed: int, args: argparse.Namespace) -> dict:
    python = str(GEPA_PYTHON) if system == "gepa" else sys.executable
    command = [python, str(HERE / "_search_worker.py"), "--system", system, "--workload", workload,
               "--seed", str(seed), "--budget", str(args.budget), "--workers", str(args.workers),
               "--lm-latency", str(args.lm_latency), "--eval-latency", str(args.eval_latency)]
    if system != "gepa":
        for option in args.honing_option:
            command += ["--honing-option", option]
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    done = subprocess.run(command, capture_output=True, text=True, timeout=args.run_timeout, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{system} {workload} seed {seed} failed:\n{done.stderr[-3000:]}")
    record = json.loads(done.stdout.strip().splitlines()[-1])
    record["load_before"] = args._load
    record["finished_at"] = time.strftime("%Y-%m-%d %H:%M:%S")
    return record


def _key(record: dict) -> tuple:
    return (record["system"], record["workload"], record["seed"], record["budget"], tuple(record.get("options") or ()),
            record.get("lm_latency"), record.get("eval_latency"), record.get("workers"))


def load(path: Path) -> list[dict]:
    return json.loads(path.read_text()) if path.exists() else []


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarize(records: list[dict]) -> tuple[str, list[str]]:
    by: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        by.setdefault((r["workload"], r["system"]), []).append(r)
    workloads = [w for w in tasks.WORKLOADS if any(k[0] == w for k in by)]
    lines = ["| workload | system | runs | median held-out (IQR) | seed | median wall-clock (s) | speed-up vs GEPA "
             "| evaluator calls median / max / budget | LM calls (median) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    verdicts = []
    for w in workloads:
        gepa = by.get((w, "gepa"), [])
        gepa_wall = _median([r["wall_clock_s"] for r in gepa])
        for system in SYSTEMS:
            rs = by.get((w, system), [])
            if not rs:
                continue
            held = sorted(r["held_out"] for r in rs)
            q = statistics.quantiles(held, n=4) if len(held) >= 2 else [held[0]] * 3
            wall = _median([r["wall_clock_s"] for r in rs])
            speed = f"{gepa_wall / wall:.1f}x" if gepa and system != "gepa" else ""
            calls = [r["evaluator_calls"] for r in rs]
            lines.append(f"| {w} | {system} | {len(rs)} | {_median(held):.4f} ({q[0]:.3f}-{q[2]:.3f}) "
                         f"| {rs[0]['seed_held_out']:.3f} | {wall:.2f} | {speed} | {_median(calls):.0f} / {max(calls)} "
                         f"/ {rs[0]['budget']} | {_median([r['lm_calls'] for r in rs]):.0f} |")
        verdicts += _verdicts(w, by)
    return "\n".join(lines), verdicts


def _verdicts(workload: str, by: dict) -> list[str]:
    honing, seq, gepa = (by.get((workload, s), []) for s in SYSTEMS)
    if not honing:
        return []
    out = []
    med = _median([r["held_out"] for r in honing])
    over = [r for r in honing if r["evaluator_calls"] > r["budget"]]
    out.append(f"{workload}: honing never over budget: {'yes' if not over else f'NO ({len(over)} runs)'}")
    if gepa:
        g = _median([r["held_out"] for r in gepa])
        speed = _median([r["wall_clock_s"] for r in gepa]) / _median([r["wall_clock_s"] for r in honing])
        out.append(f"{workload}: held-out honing {med:.4f} vs GEPA {g:.4f}: "
                   f"{'met' if med >= g else 'NOT met'}; speed-up {speed:.1f}x: "
                   f"{'met' if speed >= TARGET_SPEEDUP else 'NOT met'} (target {TARGET_SPEEDUP:g}x)")
    if seq:
        s = _median([r["held_out"] for r in seq])
        out.append(f"{workload}: held-out honing {med:.4f} vs its sequential {s:.4f} - {TARGET_SEQ_GAP}: "
                   f"{'met' if med >= s - TARGET_SEQ_GAP else 'NOT met'}")
    return out


def plot(records: list[dict], directory: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for workload in tasks.WORKLOADS:
        rs = [r for r in records if r["workload"] == workload]
        if not rs:
            continue
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for system in SYSTEMS:
            runs = [r for r in rs if r["system"] == system]
            if not runs:
                continue
            budget = runs[0]["budget"]
            max_t = max(r["wall_clock_s"] for r in runs)
            for ax, index, grid in ((axes[0], 0, [budget * i / 100 for i in range(101)]),
                                    (axes[1], 1, [max_t * i / 100 for i in range(101)])):
                medians = [_median([_step(r, index, x) for r in runs]) for x in grid]
                ax.plot(grid, medians, label=f"{system} ({len(runs)} seeds)")
        axes[0].set_xlabel("metric calls")
        axes[1].set_xlabel("seconds")
        for ax in axes:
            ax.set_ylabel("held-out score of the best validated candidate (median)")
            ax.grid(alpha=0.3)
            ax.legend()
        fig.suptitle(f"bench/search.py: {workload}")
        fig.tight_layout()
        path = directory / f"search-{workload}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    return written


def _step(record: dict, index: int, x: float) -> float:
    value = record["seed_held_out"]
    for point in record["curve"]:
        if point[index] <= x:
            value = point[2]
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--workloads", default=",".join(tasks.WORKLOADS))
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--budget", type=int, default=400)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--lm-latency", type=float, default=0.2, help="mean seconds per LM call")
    parser.add_argument("--eval-latency", type=float, default=0.01, help="seconds per evaluator call")
    parser.add_argument("--honing-option", action="append", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--run-timeout", type=float, default=900)
    parser.add_argument("--plot", type=Path, help="write PNG plots into this directory")
    benchmarks_md.add_record_options(parser, "search", "Search")
    args = parser.parse_args()

    if args.report:
        records = load(args.report)
    else:
        systems = [s for s in args.systems.split(",") if s]
        if "gepa" in systems and not GEPA_PYTHON.exists():
            parser.error(f"GEPA venv missing ({GEPA_PYTHON}); run bench/setup_gepa_venv.sh")
        records = load(args.out)
        done = {_key(r) for r in records}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        for i, seed in enumerate(range(args.first_seed, args.first_seed + args.seeds)):
            for workload in args.workloads.split(","):
                order = systems[i % len(systems):] + systems[:i % len(systems)]
                for system in order:
                    probe = {"system": system, "workload": workload, "seed": seed, "budget": args.budget,
                             "options": args.honing_option if system != "gepa" else [],
                             "lm_latency": args.lm_latency, "eval_latency": args.eval_latency,
                             "workers": args.workers}
                    if _key(probe) in done:
                        continue
                    args._load = open("/proc/loadavg").read().split()[0] if os.path.exists("/proc/loadavg") else "?"
                    record = run_one(system, workload, seed, args)
                    records.append(record)
                    args.out.write_text(json.dumps(records))
                    print(f"{workload:15s} {system:11s} seed {seed:2d}: held-out {record['held_out']:.4f} "
                          f"wall {record['wall_clock_s']:6.2f} s calls {record['evaluator_calls']} "
                          f"(load {args._load})", flush=True)
    table, verdicts = summarize(records)
    print(table)
    print()
    print("\n".join(verdicts))
    plots = []
    if args.plot:
        args.plot.mkdir(parents=True, exist_ok=True)
        for path in plot(records, args.plot):
            print(f"wrote {path}")
            plots.append(path)
    if args.write:
        write_section(records, table, verdicts, plots, args)
    return 0


def write_section(records: list[dict], table: str, verdicts: list[str], plots: list[Path],
                  args: argparse.Namespace) -> None:
    """Replace the ``## Search`` section of BENCHMARKS.md (``## Search: notes`` is left alone)."""
    loads = sorted(float(r["load_before"]) for r in records if r.get("load_before") not in (None, "?"))
    first = records[0] if records else {}
    lines = [
        f"`python bench/search.py --seeds {args.seeds} --write` on {time.strftime('%Y-%m-%d')}, "
        f"{os.cpu_count()} cores, "
        f"load average {loads[0]:.2f}-{loads[-1]:.2f} before the runs (machine kept otherwise idle). "
        f"Budget {first.get('budget')} evaluator calls, {first.get('workers')} workers, simulated reflection model "
        f"with {first.get('lm_latency')} s mean latency, evaluator {first.get('eval_latency')} s, "
        "24 train / 24 validation / 60 held-out examples per task; held-out score of the candidate each system "
        "returns. `honing-seq` is honing with one proposal in flight.",
        "",
        table,
        "",
        *[f"- {v}" for v in verdicts],
        "",
        *[f"![{p.stem}]({p.resolve().relative_to(HERE.parent)})" for p in plots],
    ]
    benchmarks_md.write_section("Search", "\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
