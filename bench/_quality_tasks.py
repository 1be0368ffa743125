"""Tasks of the quality benchmark, importable from honing's interpreter and from the GEPA venv.

Standard library only (plus ``honing``, which has no required dependencies and is
put on ``sys.path`` from the repository). A task is a :class:`Task`: a seed, the
objective and background texts, an optional dataset, the evaluator both systems
optimize against, and ``final_score(best_candidate)``, which re-scores the winner
from scratch so that both systems are measured by the same code.

Built-in tasks: ``circle_packing`` and ``blackbox``. Any other folder
``examples/<name>/`` whose ``evaluator.py`` defines ``SEED``, ``OBJECTIVE``,
``BACKGROUND`` and ``evaluate`` (plus ``make_dataset()`` for multi-task mode) is a
task too (``prompt_opt``). ``make_valset()`` adds a valset (generalization mode) and
``make_testset()`` held-out examples; its final score is the mean of ``evaluate``
over the test set if there is one, else over the valset, else over the dataset.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

BUILTIN = ("circle_packing", "blackbox")


@dataclass
class Task:
    name: str
    seed: str
    objective: str
    background: str
    dataset: list[Any] | None
    evaluate: Callable[..., Any]
    final_score: Callable[[str], float]
    baselines: Callable[[int], dict[str, dict[str, float]]] = field(default=lambda seed: {})
    valset: list[Any] | None = None


class CountingEvaluator:
    """Counts evaluator calls and busy time under a lock (see :func:`counted`)."""

    def __init__(self) -> None:
        self.calls, self.busy_s = 0, 0.0
        self._lock = threading.Lock()

    def count(self, started: float) -> None:
        with self._lock:
            self.calls += 1
            self.busy_s += time.perf_counter() - started


def counted(inner: Callable[..., Any], with_example: bool) -> tuple[Callable[..., Any], CountingEvaluator]:
    """A plain function (GEPA inspects the signature) that counts its calls."""
    counter = CountingEvaluator()
    if with_example:
        def evaluator(candidate, example):
            started = time.perf_counter()
            try:
                return inner(candidate, example)
            finally:
                counter.count(started)
    else:
        def evaluator(candidate):
            started = time.perf_counter()
            try:
                return inner(candidate)
            finally:
                counter.count(started)
    return evaluator, counter


def _circle_packing(opts: dict[str, Any]) -> Task:
    ev = importlib.import_module("examples.circle_packing.evaluator")
    timeout = float(opts.get("eval_timeout", 30.0))

    def baselines(seed: int) -> dict[str, dict[str, float]]:
        out = {}
        started = time.perf_counter()
        out["seed candidate"] = {"score": ev.evaluate(ev.SEED, timeout=timeout)[0],
                                 "wall_clock_s": time.perf_counter() - started}
        restarts = int(opts.get("random_restarts", 200))
        started = time.perf_counter()
        out[f"random restarts ({restarts})"] = {"score": ev.random_restarts(restarts, seed),
                                                "wall_clock_s": time.perf_counter() - started}
        return out

    return Task("circle_packing", ev.SEED, ev.OBJECTIVE, ev.BACKGROUND, None,
                lambda c: ev.evaluate(c, timeout=timeout), lambda c: ev.evaluate(c, timeout=timeout)[0], baselines)


def _blackbox(opts: dict[str, Any]) -> Task:
    ev = importlib.import_module("examples.blackbox.evaluator")
    dataset = ev.make_dataset(budget=int(opts.get("evals_per_function", ev.EVALS_PER_FUNCTION)))
    wanted = opts.get("problems")
    if wanted:
        dataset = [ex for ex in dataset if ex["key"] in set(wanted)]
    timeout = float(opts.get("eval_timeout", 30.0))

    def final_score(candidate: str) -> float:
        rows = ev.evaluate_all(candidate, dataset, timeout=timeout)
        return sum(r["score"] for r in rows.values()) / len(rows)

    def baselines(seed: int) -> dict[str, dict[str, float]]:
        out = {}
        started = time.perf_counter()
        out["seed candidate"] = {"score": final_score(ev.SEED), "wall_clock_s": time.perf_counter() - started}
        for method, label in (("tpe", "Optuna TPE"), ("random", "random search")):
            if method == "tpe":
                try:
                    import optuna  # noqa: F401
                except ImportError:
                    continue
            started = time.perf_counter()
            table = ev.baseline_table(dataset, seed=seed, method=method)
            out[label] = {"score": sum(r["score"] for r in table.values()) / len(table),
                          "wall_clock_s": time.perf_counter() - started,
                          "evaluator_calls": sum(ex["budget"] for ex in dataset)}
        return out

    return Task("blackbox", ev.SEED, ev.OBJECTIVE, ev.BACKGROUND, dataset,
                lambda c, ex: ev.evaluate(c, ex, timeout=timeout), final_score, baselines)


def _plugin(name: str, opts: dict[str, Any]) -> Task:
    ev = importlib.import_module(f"examples.{name}.evaluator")
    missing = [a for a in ("SEED", "OBJECTIVE", "BACKGROUND", "evaluate") if not hasattr(ev, a)]
    if missing:
        raise LookupError(f"examples/{name}/evaluator.py lacks {', '.join(missing)}")
    dataset = ev.make_dataset() if hasattr(ev, "make_dataset") else None
    valset = ev.make_valset() if hasattr(ev, "make_valset") else None
    held_out = ev.make_testset() if hasattr(ev, "make_testset") else (valset or dataset)

    def final_score(candidate: str) -> float:
        calls = [(candidate,)] if held_out is None else [(candidate, ex) for ex in held_out]
        scores = []
        for args in calls:
            got = ev.evaluate(*args)
            scores.append(float(got[0] if isinstance(got, tuple) else got))
        return sum(scores) / len(scores)

    seed_score: dict[str, dict[str, float]] = {}

    def baselines(seed: int) -> dict[str, dict[str, float]]:
        if not seed_score:  # the same for every seed: scored once
            started = time.perf_counter()
            seed_score["seed candidate"] = {"score": final_score(ev.SEED),
                                            "wall_clock_s": time.perf_counter() - started}
        return dict(seed_score)

    def two_parts(got):  # GEPA 0.1.4 takes (score, side_info) only: fold an output into the side info
        if isinstance(got, tuple) and len(got) == 3:
            score, output, side_info = got
            return score, {**(side_info or {}), "Output": output}
        return got

    evaluate = ((lambda c: two_parts(ev.evaluate(c))) if dataset is None
                else (lambda c, ex: two_parts(ev.evaluate(c, ex))))
    return Task(name, ev.SEED, ev.OBJECTIVE, ev.BACKGROUND, dataset, evaluate, final_score, baselines, valset)


def available(names: list[str]) -> tuple[list[str], dict[str, str]]:
    """Split requested task names into runnable ones and ``{name: why not}``."""
    ok, skipped = [], {}
    for name in names:
        if name in BUILTIN:
            ok.append(name)
        elif os.path.isfile(os.path.join(REPO, "examples", name, "evaluator.py")):
            try:
                _plugin(name, {})
                ok.append(name)
            except Exception as exc:  # noqa: BLE001 - reported, not fatal
                skipped[name] = f"{type(exc).__name__}: {exc}"
        else:
            skipped[name] = f"examples/{name}/evaluator.py does not exist"
    return ok, skipped


def load(name: str, opts: dict[str, Any] | None = None) -> Task:
    opts = opts or {}
    if name == "circle_packing":
        return _circle_packing(opts)
    if name == "blackbox":
        return _blackbox(opts)
    return _plugin(name, opts)
