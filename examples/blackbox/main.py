"""Black-box optimization: evolve ``solve(objective_function, config, prev_best_x)`` against a test-function suite.

    python examples/blackbox/main.py [--budget 40] [--evals-per-function 100]
                                     [--reflection-lm local/qwen2.5-coder-1.5b] [--run-dir runs/bb] [--seed 0]

Multi-task mode: each dataset example is one shifted test function (``problem.py``).
Candidates run in ``honing.run_code``'s sandbox behind a counting wrapper that
enforces the evaluation budget per call. At the end the best candidate and
Optuna's TPE sampler (same evaluation budget per function, run here) are compared
function by function: wins / ties / losses. Optuna is an example dependency
(``pip install optuna==4.1.0``); without it the comparison uses random search.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

if not __package__:  # run as a script (python examples/blackbox/main.py): make `examples` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import honing as hn
from examples import _common
from examples.blackbox import evaluator

DEFAULT_BUDGET = 40


def _default_baseline() -> str:
    try:
        import optuna  # noqa: F401
    except ImportError:
        return "random"
    return "tpe"


def run(budget: int = DEFAULT_BUDGET, reflection_lm: Any = None, run_dir: str | None = None, seed: int = 0,
        evals_per_function: int = evaluator.EVALS_PER_FUNCTION, problems: list[str] | None = None,
        baseline: str | None = "auto", timeout_s: float | None = 900.0, eval_timeout: float = 30.0,
        verbose: bool = True) -> dict[str, Any]:
    """Optimize ``solve``; returns mean scores, per-function comparison with the baseline and run figures.

    ``problems`` restricts the suite to these keys (e.g. ``["sphere-5d"]``); ``baseline`` is
    ``"tpe"``, ``"random"``, ``"auto"`` (TPE when Optuna is installed) or None (no comparison).
    """
    dataset = evaluator.make_dataset(shift_seed=0, budget=evals_per_function)
    if problems:
        dataset = [ex for ex in dataset if ex["key"] in set(problems)]
        if not dataset:
            raise ValueError(f"no problem of the suite matches {problems}")

    def evaluate(candidate: str, example: dict[str, Any]):
        return evaluator.evaluate(candidate, example, timeout=eval_timeout)

    config = _common.config(budget, reflection_lm, run_dir, seed, timeout_s, verbose)
    started = time.monotonic()
    result = hn.optimize_anything(evaluator.SEED, evaluate, dataset=dataset, objective=evaluator.OBJECTIVE,
                                  background=evaluator.BACKGROUND, config=config)
    figures = _common.run_figures(result, started)  # the search's time, not the re-scoring's below
    best = figures["best_candidate"]
    per_function = evaluator.evaluate_all(best, dataset, timeout=eval_timeout)
    out: dict[str, Any] = {
        **figures,
        "baseline": float(result.val_scores[0] or 0.0),
        "optimized": float(result.best_score or 0.0),
        "per_function": per_function,
    }
    method = _default_baseline() if baseline == "auto" else baseline
    if method:
        reference = evaluator.baseline_table(dataset, seed=seed, method=method)
        verdicts = {key: evaluator.compare(per_function[key]["gap"], reference[key]["gap"]) for key in reference}
        out.update({
            "reference_method": method,
            "reference": reference,
            "reference_mean": sum(r["score"] for r in reference.values()) / len(reference),
            "verdicts": verdicts,
            "wins": sum(v == "win" for v in verdicts.values()),
            "ties": sum(v == "tie" for v in verdicts.values()),
            "losses": sum(v == "loss" for v in verdicts.values()),
        })
    return out


def main(argv: list[str] | None = None) -> int:
    parser = _common.parser("Evolve a black-box minimizer with honing and compare it with TPE.",
                            budget=DEFAULT_BUDGET, timeout=900.0)
    parser.add_argument("--evals-per-function", type=int, default=evaluator.EVALS_PER_FUNCTION,
                        help="objective evaluations per solve() call (default %(default)s)")
    parser.add_argument("--baseline", choices=("auto", "tpe", "random", "none"), default="auto")
    args = parser.parse_args(argv)
    out = run(args.budget, args.reflection_lm, args.run_dir, args.seed, args.evals_per_function,
              baseline=None if args.baseline == "none" else args.baseline, timeout_s=args.timeout)
    print("\nbest candidate:\n" + out["best_candidate"])
    if "verdicts" in out:
        name = "TPE" if out["reference_method"] == "tpe" else "random search"
        print(f"{'function':<20} {'candidate gap':>14} {name + ' gap':>18}  verdict")
        for key, verdict in out["verdicts"].items():
            ours, theirs = out["per_function"][key]["gap"], out["reference"][key]["gap"]
            print(f"{key:<20} {ours:>14.4g} {theirs:>18.4g}  {verdict}")
        print(f"candidate vs {name}: {out['wins']} wins / {out['ties']} ties / {out['losses']} losses "
              f"(mean score {name} {out['reference_mean']:.4f})")
    _common.print_run(out)
    print(f"baseline {out['baseline']:.4f} -> optimized {out['optimized']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
