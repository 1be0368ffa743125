"""Run ONE optimization of a search workload with honing or GEPA 0.1.4 and print one JSON line.

Started as a subprocess by ``bench/search.py`` so both engines run the same way: honing with this
project's interpreter, GEPA with the benchmark venv's (``.bench-venv/gepa``, made by
``bench/setup_gepa_venv.sh``). Engine logs go to stderr; stdout carries only the JSON record.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _search_tasks as tasks  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", required=True, help="honing, honing-seq or gepa")
    parser.add_argument("--workload", required=True, choices=tasks.WORKLOADS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--lm-latency", type=float, default=0.3)
    parser.add_argument("--eval-latency", type=float, default=0.01)
    parser.add_argument("--honing-option", action="append", default=[], metavar="FIELD=VALUE",
                        help="extra EngineConfig field for honing runs (repeatable), e.g. max_proposals_in_flight=4")
    return parser.parse_args(argv)


def _option(text: str) -> tuple[str, object]:
    name, _, raw = text.partition("=")
    try:
        return name, json.loads(raw)
    except json.JSONDecodeError:
        return name, raw


def run_honing(args: argparse.Namespace, task: tasks.Task, lm: tasks.SimLM, evaluator) -> tuple[object, float, int]:
    import logging

    import honing as hn

    logging.getLogger("honing").setLevel(logging.ERROR)
    options = dict(_option(o) for o in args.honing_option)
    if args.system == "honing-seq":
        options.setdefault("max_proposals_in_flight", 1)
    config = hn.Config(
        engine=hn.EngineConfig(max_metric_calls=args.budget, max_workers=args.workers, seed=args.seed,
                               progress=False, **options),
        reflection=hn.ReflectionConfig(reflection_lm=lm),
        merge=hn.MergeConfig() if task.merge else None,
        store=hn.MemoryStore(),
    )
    result = hn.optimize_anything(task.seed_candidate(), evaluator, dataset=task.train, valset=task.val,
                                  config=config)
    return result.best_candidate, result.best_score, result.total_metric_calls


def run_gepa(args: argparse.Namespace, task: tasks.Task, lm: tasks.SimLM, evaluator) -> tuple[object, float, int]:
    from gepa.optimize_anything import EngineConfig, GEPAConfig, MergeConfig, ReflectionConfig, optimize_anything

    config = GEPAConfig(
        engine=EngineConfig(max_metric_calls=args.budget, parallel=True, max_workers=args.workers, seed=args.seed),
        reflection=ReflectionConfig(reflection_lm=lm),
        merge=MergeConfig() if task.merge else None,
    )
    with contextlib.redirect_stdout(sys.stderr):
        result = optimize_anything(task.seed_candidate(), evaluator=evaluator, dataset=task.train,
                                   valset=task.val, config=config)
    best = float(result.val_aggregate_scores[result.best_idx])
    return result.best_candidate, best, result.total_metric_calls


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    task = tasks.make_task(args.workload, args.seed)
    lm = tasks.SimLM(seed=args.seed, latency=args.lm_latency)
    log = tasks.EvalLog()
    evaluator = log.wrap(task, args.eval_latency)
    started = time.perf_counter()
    runner = run_gepa if args.system == "gepa" else run_honing
    best, best_val, reported_calls = runner(args, task, lm, evaluator)
    wall = time.perf_counter() - started
    record = {
        "system": args.system, "workload": args.workload, "seed": args.seed, "budget": args.budget,
        "options": args.honing_option, "held_out": round(task.held_out(best), 5),
        "best_val": best_val, "wall_clock_s": round(wall, 3), "evaluator_calls": len(log.calls),
        "reported_calls": reported_calls, "lm_calls": lm.calls,
        "seed_held_out": round(task.held_out(task.seed_candidate()), 5),
        "curve": log.curves(task), "lm_latency": args.lm_latency, "eval_latency": args.eval_latency,
        "workers": args.workers,
    }
    sys.stdout.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
