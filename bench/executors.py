"""Executors, side by side: thread vs process vs Ray on a CPU-bound evaluator.

The evaluator does ~100 ms of pure-Python arithmetic per call, so on threads
the GIL lets only one evaluation run at a time whatever ``max_workers`` says;
worker processes and Ray tasks each get their own interpreter. The LM is a
scripted callable with no latency (each reply is a new candidate), so the
evaluator is the only bottleneck. Every executor gets the same budget and 2
workers; the figure is evaluator calls per second of wall-clock for the whole
run (process start-up included; Ray's own start-up is reported separately,
since a real deployment joins a cluster that is already running).

    python bench/executors.py            # print the table
    python bench/executors.py --write    # also update the "## Executors" section of BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import honing as hn  # noqa: E402

sys.path.insert(0, str(HERE))
import _benchmarks_md as benchmarks_md  # noqa: E402


def calibrate(target_s: float) -> int:
    """Loop count for ~target_s of pure-Python work on this machine."""
    n = 200_000
    while True:
        started = time.perf_counter()
        burn(n, 1)
        took = time.perf_counter() - started
        if took > 0.05:
            return max(1, int(n * target_s / took))
        n *= 2


def burn(n: int, salt: int) -> int:
    total = 0
    for i in range(n):
        total = (total + i * i * salt) % 1_000_003
    return total


def make_evaluator(n: int):
    def evaluate(candidate: str, example: int) -> tuple[float, dict]:
        checksum = burn(n, example + len(candidate))
        score = (zlib.crc32(f"{candidate}|{example}".encode()) % 1000) / 1000  # same in every process
        return score, {"checksum": checksum}

    return evaluate


def make_lm():
    counter = itertools.count(1)
    lock = threading.Lock()

    def reply(prompt: str) -> str:
        with lock:
            n = next(counter)
        return f"Improved.\n```\nvariant {n}: {'x' * (n % 7)}\n```"

    return reply


def run(executor: str, n: int, budget: int, workers: int, examples: int) -> dict:
    config = hn.Config(
        engine=hn.EngineConfig(max_metric_calls=budget, max_workers=workers, executor=executor,
                               run_dir=tempfile.mkdtemp(prefix="honing-bench-exec-"), progress=False),
        reflection=hn.ReflectionConfig(reflection_lm=make_lm()),
    )
    started = time.perf_counter()
    result = hn.optimize_anything("variant 0", make_evaluator(n), dataset=list(range(examples)), config=config)
    wall = time.perf_counter() - started
    return {"executor": executor, "calls": result.total_metric_calls, "wall_s": wall,
            "evals_per_s": result.total_metric_calls / wall}


def table(rows: list[dict], baseline: float) -> str:
    return benchmarks_md.table(
        ["executor", "evaluator calls", "wall-clock (s)", "evaluations/s", "vs thread"],
        [(r["executor"], r["calls"], f"{r['wall_s']:.2f}", f"{r['evals_per_s']:.2f}",
          f"{r['evals_per_s'] / baseline:.2f}x") for r in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=int, default=120)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--examples", type=int, default=6)
    parser.add_argument("--eval-ms", type=float, default=100.0)
    parser.add_argument("--executors", default="thread,process,ray")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()

    n = calibrate(args.eval_ms / 1000)
    started = time.perf_counter()
    burn(n, 1)
    one_call = time.perf_counter() - started
    rows, notes = [], []
    for executor in args.executors.split(","):
        if executor == "ray":
            try:
                import ray
            except ImportError:
                notes.append("Ray: not installed, skipped (pip install 'honing[ray]').")
                continue
            t0 = time.perf_counter()
            ray.init(num_cpus=args.workers, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
            notes.append(f"Ray start-up (ray.init, local, not in the figures): {time.perf_counter() - t0:.1f} s.")
            try:
                rows.append(run("ray", n, args.budget, args.workers, args.examples))
            finally:
                ray.shutdown()
        else:
            rows.append(run(executor, n, args.budget, args.workers, args.examples))
        print(f"{rows[-1]['executor']:>8}: {rows[-1]['evals_per_s']:.2f} evaluations/s", flush=True)
    baseline = next((r["evals_per_s"] for r in rows if r["executor"] == "thread"), rows[0]["evals_per_s"])
    text = table(rows, baseline)
    print(text)
    for note in notes:
        print(note)
    if args.write:
        versions = [f"Python {platform.python_version()}"]
        try:
            import ray

            versions.append(f"Ray {ray.__version__}")
        except ImportError:
            pass
        benchmarks_md.write_section(
            "Executors",
            f"`python bench/executors.py --write` — a CPU-bound evaluator (pure-Python loop, "
            f"{one_call * 1000:.0f} ms per call measured), a scripted LM with no latency, budget "
            f"{args.budget} evaluator calls, {args.examples} examples, {args.workers} workers, on "
            f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f} before the run "
            f"({', '.join(versions)}). Wall-clock covers the whole run, worker "
            "process start-up included.\n\n" + text + "\n\n" + "\n".join(f"* {note}" for note in notes)
            + f"\n* Load average after the runs: {os.getloadavg()[0]:.1f}. On a machine shared with other jobs "
            "(load above the core count) parallel backends cannot show their speed-up; rerun on an idle machine."
            + "\n* Threads share one GIL, so CPU-bound evaluations run one at a time whatever `max_workers` "
            "says; processes and Ray tasks run in parallel, up to the core count. For evaluators that wait "
            "(LLM calls, subprocesses, I/O) threads are as fast and start instantly."
        )


if __name__ == "__main__":
    main()
