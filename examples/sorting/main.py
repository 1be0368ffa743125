"""Sorting: evolve seed 000's bubble sort into a fast, correct ``sort_list`` (multi-task mode).

    python examples/sorting/main.py [--budget 40] [--reflection-lm local/qwen2.5-coder-1.5b]
                                    [--run-dir runs/sorting] [--seed 0]

The dataset is eight test lists (``evaluator.make_dataset``); every evaluation runs
the candidate on one list in ``honing.run_code``'s sandbox and scores correctness
and speed against the built-in ``sorted``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

if not __package__:  # run as a script (python examples/sorting/main.py): make `examples` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import honing as hn
from examples import _common
from examples.sorting import evaluator

DEFAULT_BUDGET = 40


def run(budget: int = DEFAULT_BUDGET, reflection_lm: Any = None, run_dir: str | None = None, seed: int = 0,
        timeout_s: float | None = 900.0, verbose: bool = True,
        dataset: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Optimize ``sort_list``; returns baseline/optimized mean scores over the dataset and run figures.

    ``dataset`` replaces the default eight lists (``evaluator.make_dataset(seed)``).
    """
    dataset = evaluator.make_dataset(seed) if dataset is None else dataset
    config = _common.config(budget, reflection_lm, run_dir, seed, timeout_s, verbose)
    started = time.monotonic()
    result = hn.optimize_anything(evaluator.SEED, evaluator.evaluate, dataset=dataset,
                                  objective=evaluator.OBJECTIVE, background=evaluator.BACKGROUND, config=config)
    return {
        **_common.run_figures(result, started),
        "baseline": float(result.val_scores[0] or 0.0),
        "optimized": float(result.best_score or 0.0),
    }


def main(argv: list[str] | None = None) -> int:
    parser = _common.parser("Evolve a bubble sort into a fast sort with honing.", budget=DEFAULT_BUDGET, timeout=900.0)
    args = parser.parse_args(argv)
    out = run(args.budget, args.reflection_lm, args.run_dir, args.seed, args.timeout)
    print("\nbest candidate:\n" + out["best_candidate"])
    _common.print_run(out)
    print(f"baseline {out['baseline']:.4f} -> optimized {out['optimized']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
