"""Run ONE GEPA ``optimize_anything`` optimisation of a benchmark workload.

Meant to be executed with the benchmark venv's interpreter (see
``bench/setup_gepa_venv.sh``), typically as a subprocess of the side-by-side
driver::

    .bench-venv/gepa/bin/python bench/_gepa_worker.py --budget 600 --workers 8

It prints exactly one JSON line on stdout; GEPA's own log output is sent to
stderr.  Fields:

* ``wall_clock_s``  -- duration of the ``optimize_anything`` call
* ``evaluator_calls`` -- calls counted by the evaluator itself, under a lock
* ``budget``        -- the ``max_metric_calls`` that GEPA was given
* ``best_score``    -- GEPA's best validation aggregate score
* ``worker_busy_s`` -- sum of the evaluator call durations
* ``utilization``   -- ``worker_busy_s / (wall_clock_s * workers)``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time

# The workload module lives next to this script; make it importable no matter
# the current directory.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import workloads  # noqa: E402

WORKLOADS = ("throughput",)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=WORKLOADS, default="throughput")
    parser.add_argument("--budget", type=int, default=600, help="max_metric_calls")
    parser.add_argument("--workers", type=int, default=8, help="evaluator threads")
    parser.add_argument("--lm-latency", type=float, default=1.0, help="seconds per LM call")
    parser.add_argument("--eval-latency", type=float, default=0.05, help="seconds per evaluator call")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.budget < 1:
        parser.error("--budget must be >= 1")
    if args.workers < 1:
        parser.error("--workers must be >= 1")
    return args


def run(args: argparse.Namespace) -> dict[str, object]:
    from gepa.optimize_anything import (
        EngineConfig,
        GEPAConfig,
        ReflectionConfig,
        optimize_anything,
    )

    train, val = workloads.split_examples(args.seed)
    counter = workloads.CallCounter()
    evaluator = workloads.make_evaluator(args.eval_latency, counter)
    lm = workloads.make_lm(args.lm_latency)

    config = GEPAConfig(
        engine=EngineConfig(
            max_metric_calls=args.budget,
            parallel=True,
            max_workers=args.workers,
            seed=args.seed,
        ),
        reflection=ReflectionConfig(reflection_lm=lm),
    )

    # GEPA's default logger print()s progress; keep stdout for our JSON line.
    with contextlib.redirect_stdout(sys.stderr):
        started = time.perf_counter()
        result = optimize_anything(
            workloads.SEED_CANDIDATE,
            evaluator=evaluator,
            dataset=train,
            valset=val,
            config=config,
        )
        wall_clock_s = time.perf_counter() - started

    calls, busy_s = counter.snapshot()
    best_score = float(result.val_aggregate_scores[result.best_idx])
    best_candidate = result.best_candidate
    return {
        "engine": "gepa",
        "gepa_version": _gepa_version(),
        "workload": args.workload,
        "wall_clock_s": round(wall_clock_s, 4),
        "evaluator_calls": calls,
        "budget": args.budget,
        "gepa_total_metric_calls": result.total_metric_calls,
        "best_score": best_score,
        "best_candidate_steps": workloads.count_steps(best_candidate)
        if isinstance(best_candidate, str)
        else None,
        "num_candidates": result.num_candidates,
        "worker_busy_s": round(busy_s, 4),
        "workers": args.workers,
        "utilization": round(busy_s / (wall_clock_s * args.workers), 4) if wall_clock_s > 0 else 0.0,
        "lm_latency": args.lm_latency,
        "eval_latency": args.eval_latency,
        "seed": args.seed,
    }


def _gepa_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("gepa")
    except Exception:  # pragma: no cover - metadata missing
        return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    record = run(args)
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
