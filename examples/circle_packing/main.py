"""Circle packing: evolve ``pack()`` so that 26 circles in the unit square have the largest sum of radii.

    python examples/circle_packing/main.py [--budget 8] [--reflection-lm local/qwen2.5-coder-1.5b]
                                           [--run-dir runs/circles] [--seed 0]

Single-task mode (no dataset): one candidate, one score. The seed is a ring layout
scoring about 0.985; every candidate runs in ``honing.run_code``'s sandbox and its
circles are validated by ``evaluator.validate`` in this process.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

if not __package__:  # run as a script (python examples/circle_packing/main.py): make `examples` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import honing as hn
from examples import _common
from examples.circle_packing import evaluator

DEFAULT_BUDGET = 8


def run(budget: int = DEFAULT_BUDGET, reflection_lm: Any = None, run_dir: str | None = None, seed: int = 0,
        timeout_s: float | None = 900.0, eval_timeout: float = 30.0, verbose: bool = True) -> dict[str, Any]:
    """Optimize the packing; returns baseline/optimized scores, the best code and run figures."""

    def evaluate(candidate: str) -> tuple[float, dict[str, Any]]:
        return evaluator.evaluate(candidate, timeout=eval_timeout)

    config = _common.config(budget, reflection_lm, run_dir, seed, timeout_s, verbose)
    started = time.monotonic()
    result = hn.optimize_anything(evaluator.SEED, evaluate, objective=evaluator.OBJECTIVE,
                                  background=evaluator.BACKGROUND, config=config)
    best_code = str(result.best_candidate)
    # Re-check the winner from scratch: the score printed is one the layout earned.
    final_score, final_info = evaluate(best_code)
    return {
        **_common.run_figures(result, started),
        "baseline": float(result.val_scores[0] or 0.0),
        "optimized": float(final_score),
        "engine_best": float(result.best_score or 0.0),
        "verdict": final_info.get("verdict", final_info.get("error")),
    }


def main(argv: list[str] | None = None) -> int:
    parser = _common.parser("Evolve a 26-circle packing with honing.", budget=DEFAULT_BUDGET, timeout=900.0)
    parser.add_argument("--eval-timeout", type=float, default=30.0, help="seconds per pack() call")
    args = parser.parse_args(argv)
    out = run(args.budget, args.reflection_lm, args.run_dir, args.seed, args.timeout, args.eval_timeout)
    print(f"\n{out['verdict']}")
    _common.print_run(out)
    print(f"baseline {out['baseline']:.4f} -> optimized {out['optimized']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
