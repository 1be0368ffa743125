"""Throughput, side by side: honing and GEPA 0.1.4 on the same latency-bound workload.

Both get the same scripted LM (1 s per call), the same evaluator (50 ms per
call, time.sleep so it releases the GIL), 64 examples split 32 train / 32
val, 8 workers and a budget of 600 evaluator calls (see ``workloads.py``).
honing runs with its default settings in this process; GEPA runs in its own
virtual environment (``bench/setup_gepa_venv.sh``) as a subprocess, so it is
never a honing dependency. Prints wall-clock, evaluator calls and worker
utilization (evaluator-busy seconds / (wall-clock x workers)) for both, and
their ratio.

    python bench/throughput.py              # both systems
    python bench/throughput.py --write      # also update BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import _benchmarks_md as benchmarks_md  # noqa: E402
import workloads  # noqa: E402

GEPA_PYTHON = HERE.parent / ".bench-venv" / "gepa" / "bin" / "python"


def run_honing(args: argparse.Namespace, store: str = "sqlite") -> dict:
    import tempfile

    import honing as hn

    train, val = workloads.split_examples(args.seed)
    counter = workloads.CallCounter()
    evaluator = workloads.make_evaluator(args.eval_latency, counter)
    run_dir = tempfile.mkdtemp(prefix="honing-bench-")
    config = hn.Config(
        engine=hn.EngineConfig(max_metric_calls=args.budget, max_workers=args.workers, seed=args.seed,
                               run_dir=run_dir),
        reflection=hn.ReflectionConfig(reflection_lm=workloads.make_lm(args.lm_latency)),
        store=hn.MemoryStore() if store == "memory" else None,
    )
    started = time.perf_counter()
    result = hn.optimize_anything(workloads.SEED_CANDIDATE, evaluator, dataset=train, valset=val, config=config)
    wall = time.perf_counter() - started
    calls, busy = counter.snapshot()
    return {
        "engine": "honing" if store == "sqlite" else "honing (memory store)", "wall_clock_s": wall,
        "evaluator_calls": calls, "budget": args.budget,
        "best_score": result.best_score, "utilization": busy / (wall * args.workers),
        "proposals": len(result.proposals), "candidates": len(result.candidates),
    }


def run_gepa(args: argparse.Namespace) -> dict | None:
    if not GEPA_PYTHON.exists():
        print(f"GEPA venv missing ({GEPA_PYTHON}); run bench/setup_gepa_venv.sh first", file=sys.stderr)
        return None
    command = [str(GEPA_PYTHON), str(HERE / "_gepa_worker.py"), "--workload", "throughput",
               "--budget", str(args.budget), "--workers", str(args.workers), "--lm-latency", str(args.lm_latency),
               "--eval-latency", str(args.eval_latency), "--seed", str(args.seed)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare_store(args: argparse.Namespace) -> str:
    """The run store's cost on this workload: median wall-clock with SQLite vs in memory."""
    import statistics

    times: dict[str, list[float]] = {"sqlite": [], "memory": []}
    for _ in range(args.compare_store):
        for store in ("memory", "sqlite"):
            times[store].append(run_honing(args, store)["wall_clock_s"])
    memory, sqlite = statistics.median(times["memory"]), statistics.median(times["sqlite"])
    return (f"Run store overhead ({args.compare_store} alternating runs each, median wall-clock): "
            f"in-memory {memory:.2f} s, SQLite {sqlite:.2f} s, overhead {(sqlite / memory - 1):+.1%}.")


def table(rows: list[dict]) -> str:
    return benchmarks_md.table(
        ["system", "wall-clock (s)", "evaluator calls / budget", "worker utilization", "best val score"],
        [(r["engine"], f"{r['wall_clock_s']:.2f}", f"{r['evaluator_calls']} / {r['budget']}", f"{r['utilization']:.0%}",
          f"{r['best_score']:.3f}") for r in rows])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=600)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--lm-latency", type=float, default=1.0)
    parser.add_argument("--eval-latency", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-gepa", action="store_true")
    parser.add_argument("--compare-store", type=int, default=0, metavar="N",
                        help="also time N alternating runs with the SQLite store and with an in-memory one")
    parser.add_argument("--write", action="store_true", help="update the Throughput section of BENCHMARKS.md")
    args = parser.parse_args()

    rows = [run_honing(args)]
    gepa = None if args.skip_gepa else run_gepa(args)
    if gepa is not None:
        rows.append(gepa)
    report = table(rows)
    if gepa is not None:
        speedup = gepa["wall_clock_s"] / rows[0]["wall_clock_s"]
        report += f"\n\nhoning is {speedup:.1f}x faster than GEPA 0.1.4 on this workload."
    if args.compare_store:
        report += "\n\n" + compare_store(args)
    print(report)
    if args.write:
        machine = f"{os.cpu_count()} cores"
        section = (
            f"`python bench/throughput.py` on {time.strftime('%Y-%m-%d')}, {machine}: scripted LM with "
            f"{args.lm_latency:g} s latency, evaluator with {args.eval_latency * 1000:g} ms latency, 64 examples "
            f"(32 train / 32 val), {args.workers} workers, budget {args.budget}, default settings otherwise. "
            "The scripted LM numbers its drafts so concurrent replies differ, as a sampling LLM's do.\n\n"
            + report + "\n"
        )
        benchmarks_md.write_section("Throughput", section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
