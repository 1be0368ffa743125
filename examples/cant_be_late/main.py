"""Can't Be Late: evolve a spot / on-demand scheduling strategy that meets deadlines cheaply.

    python examples/cant_be_late/main.py [--budget 40] [--reflection-lm local/qwen2.5-coder-1.5b]
                                         [--run-dir runs/cant_be_late] [--seed 0]

Generalization mode: the reflection LM sees jobs from the train split, candidates are selected
on the val split, and the final figures come from a held-out test split. Jobs and spot traces
are generated from seeds (``simulator.make_examples``); every strategy runs in the sandbox.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

if not __package__:  # run as a script (python examples/cant_be_late/main.py): make `examples` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import honing as hn
from examples import _common
from examples.cant_be_late import evaluator, simulator

DEFAULT_BUDGET = 40


def run(budget: int = DEFAULT_BUDGET, reflection_lm: Any = None, run_dir: str | None = None, seed: int = 0,
        n_train: int = 8, n_val: int = 6, n_test: int = 12, timeout_s: float | None = 900.0,
        verbose: bool = True) -> dict[str, Any]:
    """Optimize the strategy; returns test cost / missed deadlines before and after, and the best code."""
    train = simulator.make_examples("train", n_train, seed)
    val = simulator.make_examples("val", n_val, seed)
    test = simulator.make_examples("test", n_test, seed)
    config = _common.config(budget, reflection_lm, run_dir, seed, timeout_s, verbose)
    started = time.monotonic()
    result = hn.optimize_anything(evaluator.SEED, evaluator.evaluate, dataset=train, valset=val,
                                  objective=evaluator.OBJECTIVE, background=evaluator.BACKGROUND, config=config)
    best = str(result.best_candidate)
    before = evaluator.summarize(evaluator.run_split(evaluator.SEED, test))
    after = evaluator.summarize(evaluator.run_split(best, test))
    return {
        **_common.run_figures(result, started),
        "baseline": before,
        "optimized": after,
        "val_score_seed": result.val_scores[0],
        "val_score_best": result.best_score,
    }


def main(argv: list[str] | None = None) -> int:
    parser = _common.parser("Evolve a Can't Be Late scheduling strategy with honing.",
                            budget=DEFAULT_BUDGET, timeout=900.0, seed_help="engine seed and job/trace generation seed")
    args = parser.parse_args(argv)
    out = run(args.budget, args.reflection_lm, args.run_dir, args.seed, timeout_s=args.timeout)
    b, o = out["baseline"], out["optimized"]
    if out["best_candidate"] != evaluator.SEED:
        print("\nbest strategy:\n" + out["best_candidate"])
    else:
        print("\nno candidate beat the greedy seed on the val split; the best strategy is the seed")
    _common.print_run(out)
    if "error" in o:
        print(f"the best strategy failed on the test split: {o['error']}")
    print(f"test jobs: {b['jobs']}; mean cost ${b['mean_cost']:.2f} with {b['missed']} missed deadlines -> "
          f"${o['mean_cost']:.2f} with {o['missed']} missed")
    print(f"baseline {b['mean_penalized']:.2f} -> optimized {o['mean_penalized']:.2f} "
          f"(mean test cost in $ incl. {evaluator.MISSED_DEADLINE_PENALTY:g} per missed deadline; lower is better)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
