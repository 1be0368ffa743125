"""What every example's ``main.py`` shares: its run settings, its command-line options and its summary lines.

The examples differ in their task, not in how they drive honing, so that part is
written once here; each ``main.py`` keeps only what is particular to its task.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import honing as hn

# The embedded model that the examples whose candidates call an LLM drive by default.
TASK_LM = "local/qwen2.5-coder-0.5b"


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


def task_model(spec: Any, *, max_tokens: int, temperature: float = 0.0) -> Any:
    """The model a task calls: an object passed in is used as it is; a name (default ``TASK_LM``) goes to ``hn.lm``.

    A served model (``http://...``) may queue requests from several workers: it waits for its turn
    rather than time out.
    """
    if spec is not None and not isinstance(spec, str):
        return spec
    name = spec or TASK_LM
    options = {"timeout_s": 3600.0} if name.startswith(("http://", "https://")) else {}
    return hn.lm(name, temperature=temperature, max_tokens=max_tokens, **options)


def held_out_figures(result: hn.Result, started: float, evaluate: Any, seed: str, test: list[Any]) -> dict[str, Any]:
    """``run_figures`` plus the mean score of the seed and of the best candidate on examples the search never saw.

    ``baseline``/``optimized`` are those means, ``val_seed``/``val_best`` the val scores that chose the best.
    When the search kept the seed, it is measured once and reported for both.
    """
    def mean(candidate: str) -> float:
        return sum(float(evaluate(candidate, example)[0]) for example in test) / len(test)

    best = str(result.best_candidate)
    before = mean(seed)
    return {
        **run_figures(result, started),
        "baseline": before,
        "optimized": before if best == seed else mean(best),
        "val_seed": result.val_scores[0],
        "val_best": result.best_score,
        "test_size": len(test),
    }


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


def print_held_out(out: dict[str, Any], measure: str, items: str) -> None:
    """Print what ``held_out_figures`` measured: val scores, the run's cost, the held-out ``baseline -> optimized``."""
    print(f"val accuracy {out['val_seed']:.2f} -> {out['val_best']:.2f}")
    print_run(out)
    print(f"baseline {out['baseline']:.1%} -> optimized {out['optimized']:.1%} "
          f"({measure} on {out['test_size']} held-out {items})")
