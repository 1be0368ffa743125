"""Agent program evolution (in the spirit of ARC-AGI): evolve a program that solves grid puzzles with an LLM.

    python examples/arc_agents/main.py [--budget 24] [--reflection-lm local/qwen2.5-coder-1.5b]
                                       [--run-dir runs/arc] [--seed 0] [--task-lm local/qwen2.5-coder-0.5b]

The candidate is a whole Python program defining ``solve(train_pairs, test_input, llm)``; it
runs in the sandbox and reaches the task model (the embedded 0.5B by default) only through
``llm(prompt) -> str``, answered by the parent process (see ``agent.py`` for the replay design).
Tasks are generated ARC-style puzzles (flips, rotations, transpose, recolouring, filling,
upscaling, gravity); score = exact match of the test output; side info = the grid diff and the
LLM transcript. Generalization mode: reflect on train tasks, select on val, report on test.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

if not __package__:  # run as a script (python examples/arc_agents/main.py): make `examples` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import honing as hn
from examples import _common
from examples.arc_agents import agent, tasks

DEFAULT_BUDGET = 24

SEED_PROGRAM = '''def format_grid(grid):
    return "\\n".join(" ".join(str(c) for c in row) for row in grid)


def parse_grid(text):
    """The last block of consecutive lines made only of digits, as a grid."""
    blocks, current = [], []
    for line in text.splitlines():
        cells = line.replace(",", " ").replace("[", " ").replace("]", " ").split()
        if cells and all(c.isdigit() for c in cells):
            current.append([int(c) for c in cells])
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks[-1] if blocks else None


def solve(train_pairs, test_input, llm):
    """Show the examples to the LLM and parse the grid it answers with."""
    parts = ["Each input grid is transformed into an output grid by the same rule.", ""]
    for i, pair in enumerate(train_pairs, 1):
        parts += [f"Example {i} input:", format_grid(pair["input"]), f"Example {i} output:",
                  format_grid(pair["output"]), ""]
    parts += ["Test input:", format_grid(test_input), "",
              "Reply with the test output grid only: one row per line, numbers separated by spaces."]
    reply = llm("\\n".join(parts))
    grid = parse_grid(reply)
    return grid if grid else test_input
'''

OBJECTIVE = ("Evolve the agent program so that it solves ARC-style grid transformation puzzles: given three "
             "input/output demonstration pairs, produce the exact output grid for the test input.")

BACKGROUND = """The candidate is a Python program (standard library only) defining
`solve(train_pairs, test_input, llm)` that returns the output grid as a list of rows of ints 0-9.
- train_pairs: list of {"input": grid, "output": grid}; test_input: a grid. 0 is the background colour.
- llm(prompt: str) -> str calls a small 0.5B language model: it is weak at reasoning over grids and often
  answers with a wrong or malformed grid. At most 3 distinct prompts per task; the program must be
  deterministic (it is re-run once per LLM call).
- Hidden rules seen so far include mirror flips (left-right, up-down), transpose, rotations by 90 / 180
  degrees, upscaling every cell to 2x2, cells falling to the bottom of their column, recolouring one colour,
  and filling the background with a colour. A program can test candidate transformations in code against
  all train pairs and apply the one that reproduces every output, and fall back to the LLM otherwise.
- Score per task = 1 if the returned grid equals the expected output exactly, else 0."""


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n // 2] + f"\n... [{len(text) - n} chars cut] ...\n" + text[-n // 2:]


def make_evaluator(llm, max_llm_calls: int = 3):
    """``evaluate(program, task) -> (score, side_info)``.

    The task itself (demonstrations, test pair and, for training tasks, the rule's name) is already
    shown to the reflection LM as the example's input, so the side info adds only what the program
    did: its grid, the diff, the tail of each prompt it sent and the model's replies.
    """
    def evaluate(program: str, task: dict) -> tuple[float, dict[str, Any]]:
        run = agent.run_agent(program, task, llm, max_llm_calls=max_llm_calls)
        expected = task["test"]["output"]
        predicted = run["output"]
        side_info: dict[str, Any] = {
            "expected_output": tasks.format_grid(expected),
            "predicted_output": tasks.format_grid(predicted) if predicted else None,
            "diff": agent.grid_diff(predicted, expected),
            "llm_calls": [{"prompt_end": p[-240:], "reply": _clip(r, 400)} for p, r in run["transcript"]],
        }
        if run["error"]:
            side_info["error"] = run["error"]
        return float(predicted == expected), side_info
    return evaluate


def run(budget: int = DEFAULT_BUDGET, reflection_lm: Any = None, run_dir: str | None = None, seed: int = 0,
        task_lm: Any = None, n_train: int = 9, n_val: int = 6, n_test: int = 9,
        timeout_s: float | None = 1800.0, verbose: bool = True) -> dict[str, Any]:
    """Evolve the agent program; returns test accuracy before and after and the best program."""
    train = tasks.make_split("train", n_train, seed)
    val = tasks.make_split("val", n_val, seed)
    test = tasks.make_split("test", n_test, seed)
    evaluate = make_evaluator(_common.task_model(task_lm, max_tokens=300))
    config = _common.config(budget, reflection_lm, run_dir, seed, timeout_s, verbose)
    started = time.monotonic()
    result = hn.optimize_anything(SEED_PROGRAM, evaluate, dataset=train, valset=val, objective=OBJECTIVE,
                                  background=BACKGROUND, config=config)
    return _common.held_out_figures(result, started, evaluate, SEED_PROGRAM, test)


def main(argv: list[str] | None = None) -> int:
    parser = _common.parser("Evolve an LLM agent program for ARC-style grid puzzles.",
                            budget=DEFAULT_BUDGET, timeout=1800.0, seed_help="engine seed and task generation seed")
    parser.add_argument("--task-lm", default=_common.TASK_LM, help="the model the program calls (default %(default)s)")
    args = parser.parse_args(argv)
    out = run(args.budget, args.reflection_lm, args.run_dir, args.seed, task_lm=args.task_lm, timeout_s=args.timeout)
    print("\nbest program:\n" + out["best_candidate"])
    _common.print_held_out(out, "exact-match accuracy", "tasks")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
