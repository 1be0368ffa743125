"""Prompt optimization (in the spirit of AIME): evolve the system prompt of a small task model.

    python examples/prompt_opt/main.py [--budget 24] [--reflection-lm local/qwen2.5-coder-1.5b]
                                       [--run-dir runs/prompt_opt] [--seed 0] [--task-lm local/qwen2.5-coder-0.5b]

Generalization mode: the task model (the embedded 0.5B by default) answers arithmetic word
problems under the candidate system prompt; reflection reads its reasoning, parsed answer and
the expected one on training problems; candidates are selected on a val split, and test accuracy
is reported before and after. Problems ship in ``problems.json`` (``data.py`` regenerates them).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

if not __package__:  # run as a script (python examples/prompt_opt/main.py): make `examples` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import honing as hn
from examples import _common
from examples.prompt_opt import data, scorer

DEFAULT_BUDGET = 24

SEED_PROMPT = ("Solve the math problem carefully. Break down the steps and provide the final answer as a "
               "single number.")

OBJECTIVE = ("Evolve the system prompt so that a small language model answers arithmetic word problems correctly, "
             "ending its reply with the final integer answer.")

BACKGROUND = ("The candidate is the system prompt given to a 0.5B-parameter model; the user message is one word "
              "problem (multi-step arithmetic with an integer answer). The final answer is parsed from a line "
              "like 'Answer: 42' (or \\boxed{42}, or else the last number in the reply). Small models make "
              "arithmetic slips and lose track of steps, and long replies may be cut off: ask for short, "
              "explicit steps. Score = 1 if the parsed answer equals the correct integer, else 0.")


def run(budget: int = DEFAULT_BUDGET, reflection_lm: Any = None, run_dir: str | None = None, seed: int = 0,
        task_lm: Any = None, n_train: int = 20, n_val: int = 6, n_test: int = 12,
        timeout_s: float | None = 1800.0, verbose: bool = True) -> dict[str, Any]:
    """Optimize the system prompt; returns test accuracy before and after and the best prompt."""
    splits = data.load()
    train, val, test = splits["train"][:n_train], splits["val"][:n_val], splits["test"][:n_test]
    llm = _common.task_model(task_lm, max_tokens=256)
    evaluate = scorer.make_evaluator(llm)
    config = _common.config(budget, reflection_lm, run_dir, seed, timeout_s, verbose)
    started = time.monotonic()
    result = hn.optimize_anything(SEED_PROMPT, evaluate, dataset=train, valset=val, objective=OBJECTIVE,
                                  background=BACKGROUND, config=config)
    # Test problems never reached the optimizer; no worked solutions are needed to score them.
    test_eval = scorer.make_evaluator(llm, show_solution=False)
    return _common.held_out_figures(result, started, test_eval, SEED_PROMPT, test)


def main(argv: list[str] | None = None) -> int:
    parser = _common.parser("Evolve a small model's system prompt for word problems.",
                            budget=DEFAULT_BUDGET, timeout=1800.0)
    parser.add_argument("--task-lm", default=_common.TASK_LM, help="the model being prompted (default %(default)s)")
    parser.add_argument("--n-val", type=int, default=6, help="val problems used for selection (max 20)")
    parser.add_argument("--n-test", type=int, default=12, help="test problems scored before/after (max 20)")
    args = parser.parse_args(argv)
    out = run(args.budget, args.reflection_lm, args.run_dir, args.seed, task_lm=args.task_lm, n_val=args.n_val,
              n_test=args.n_test, timeout_s=args.timeout)
    print("\nbest system prompt:\n" + out["best_candidate"])
    _common.print_held_out(out, "test accuracy", "problems")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
