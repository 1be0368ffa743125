"""What every example's ``main.py`` shares: its run settings, its command-line options and its summary lines.

The examples differ in their task, not in how they drive honing, so that part is
written once here; each ``main.py`` keeps only what is particular to its task.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import honing as hn


def config(budget: int, reflection_lm: Any, run_dir: str | None, seed: int, timeout_s: float | None,
           verbose: bool, *, minibatch: int = 3, workers: int = 2, **engine: Any) -> hn.Config:
    """The examples' settings: two workers, two proposals in flight, the given budget and wall-clock limit.

    ``reflection_lm=None`` means the embedded local model; extra keywords go to ``EngineConfig``.
    """
    return hn.Config(
        engine=hn.EngineConfig(max_metric_calls=budget, timeout_s=timeout_s, max_workers=workers,
                               max_proposals_in_flight=2, seed=seed, run_dir=run_dir, progress=verbose, **engine),
        reflection=hn.ReflectionConfig(reflection_lm=reflection_lm, reflection_minibatch_size=minibatch),
    )


def run_figures(result: hn.Result, started: float) -> dict[str, Any]:
    """The figures every example reports about its run (``started`` from ``time.monotonic()``)."""
    return {
        "best_candidate": str(result.best_candidate),
        "evaluator_calls": result.total_metric_calls,
        "proposals": len(result.proposals),
        "wall_clock_s": time.monotonic() - started,
        "run_dir": result.run_dir,
    }


def held_out(evaluate: Any, seed: str, best: str, test: list[Any]) -> tuple[float, float]:
    """Mean score of the seed and of the best candidate on examples the search never saw.

    When the search kept the seed, it is measured once and reported for both.
    """
    def mean(candidate: str) -> float:
        return sum(float(evaluate(candidate, example)[0]) for example in test) / len(test)

    before = mean(seed)
    return before, before if best == seed else mean(best)


def parser(description: str, *, budget: int, timeout: float, seed_help: str | None = None) -> argparse.ArgumentParser:
    """An argument parser with the options every example takes; add the task's own to it."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--budget", type=int, default=budget, help="evaluator calls (default %(default)s)")
    p.add_argument("--reflection-lm", default=None,
                   help="reflection model, e.g. openai/gpt-4.1-mini (default: the embedded local model)")
    p.add_argument("--run-dir", default=None, help="store the run here (default: a new folder under ./honing-runs)")
    p.add_argument("--seed", type=int, default=0, help=seed_help)
    p.add_argument("--timeout", type=float, default=timeout, help="wall-clock limit of the search in seconds")
    return p


def print_run(out: dict[str, Any]) -> None:
    """Print how much the run spent and where it is stored."""
    print(f"{out['proposals']} proposals, {out['evaluator_calls']} evaluations, {out['wall_clock_s']:.0f} s")
    if out.get("run_dir"):
        print(f"run stored in {out['run_dir']}")
