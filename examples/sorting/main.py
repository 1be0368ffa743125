"""Sorting: evolve seed 000's bubble sort into a fast, correct ``sort_list`` (multi-task mode).

    python examples/sorting/main.py [--budget 40] [--reflection-lm local/qwen2.5-coder-1.5b]
                                    [--run-dir runs/sorting] [--seed 0]

The dataset is eight test lists (``evaluator.make_dataset``); every evaluation runs
the candidate on one list in ``honing.run_code``'s sandbox and scores correctness
and speed against the built-in ``sorted``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

if __package__:
    from . import evaluator
else:  # run as a script: python examples/sorting/main.py
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    import evaluator  # type: ignore[no-redef]

import honing as hn

DEFAULT_BUDGET = 40


def run(budget: int = DEFAULT_BUDGET, reflection_lm: Any = None, run_dir: str | None = None, seed: int = 0,
        timeout_s: float | None = 900.0, verbose: bool = True,
        dataset: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Optimize ``sort_list``; returns baseline/optimized mean scores over the dataset and run figures.

    ``dataset`` replaces the default eight lists (``evaluator.make_dataset(seed)``).
    """
    dataset = evaluator.make_dataset(seed) if dataset is None else dataset
    config = hn.Config(
        engine=hn.EngineConfig(max_metric_calls=budget, timeout_s=timeout_s, max_workers=2,
                               max_proposals_in_flight=2, seed=seed, run_dir=run_dir, progress=verbose),
        reflection=hn.ReflectionConfig(reflection_lm=reflection_lm, reflection_minibatch_size=3),
    )
    started = time.monotonic()
    result = hn.optimize_anything(evaluator.SEED, evaluator.evaluate, dataset=dataset,
                                  objective=evaluator.OBJECTIVE, background=evaluator.BACKGROUND, config=config)
    best = str(result.best_candidate)
    return {
        "baseline": float(result.val_scores[0] or 0.0),
        "optimized": float(result.best_score or 0.0),
        "best_candidate": best,
        "evaluator_calls": result.total_metric_calls,
        "proposals": len(result.proposals),
        "wall_clock_s": time.monotonic() - started,
        "run_dir": result.run_dir,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Evolve a bubble sort into a fast sort with honing.")
    parser.add_argument("--budget", type=int, default=DEFAULT_BUDGET, help="evaluator calls (default %(default)s)")
    parser.add_argument("--reflection-lm", default=None, help="reflection model (default: the embedded local model)")
    parser.add_argument("--run-dir", default=None, help="store the run here")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=900.0, help="wall-clock limit in seconds")
    args = parser.parse_args(argv)
    out = run(args.budget, args.reflection_lm, args.run_dir, args.seed, args.timeout)
    print("\nbest candidate:\n" + out["best_candidate"])
    print(f"{out['proposals']} proposals, {out['evaluator_calls']} evaluations, {out['wall_clock_s']:.0f} s")
    if out["run_dir"]:
        print(f"run stored in {out['run_dir']}")
    print(f"baseline {out['baseline']:.4f} -> optimized {out['optimized']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
