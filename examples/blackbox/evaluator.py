"""Scorer for the black-box example: a candidate ``solve`` minimizes each test function of the suite.

One dataset example is one problem of ``problem.suite()``. For each, the candidate
runs in ``honing.run_code``'s sandbox together with a harness that

* rebuilds the problem from ``problem.py``'s source (sent as text),
* hands ``solve`` a *counting wrapper* as ``objective_function``: after
  ``budget`` calls every further call raises ``BudgetExhausted``,
* remembers every point it evaluated and the best one.

Back in the caller, the point ``solve`` returned is accepted only if the wrapper
evaluated it (otherwise the best evaluated point stands in, and the side
information says so), it is re-evaluated here with the trusted function, and its
gap to the known minimum becomes a score in [0, 1]:

    score = max(0, 1 - log10(1 + gap) / log10(1 + typical_gap))

where ``typical_gap`` is the median gap of uniformly random points (so a random
guess scores about 0 and the exact minimum 1). Standard library only.
"""

from __future__ import annotations

import math
import os
import random
import time
from typing import Any

from examples.blackbox import problem

EVALS_PER_FUNCTION = 100
TIE_RELATIVE = 0.01  # gaps within 1% (or 1e-6 absolute) of each other are a tie
TIE_ABSOLUTE = 1e-6

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "problem.py"), encoding="utf-8") as _f:
    PROBLEM_SOURCE = _f.read()

SEED = '''import numpy as np


def solve(objective_function, config, prev_best_x=None):
    bounds = np.array(config["bounds"])
    x = np.random.uniform(bounds[:, 0], bounds[:, 1])
    objective_function(x)
    return x
'''

OBJECTIVE = ("Evolve Python code that minimizes a black-box objective function using its evaluation budget "
             "efficiently.")
BACKGROUND = (
    "The candidate is Python source defining solve(objective_function, config, prev_best_x=None) that returns the "
    "best x it found (a list or NumPy array). config = {'bounds': [[lo, hi], ...], 'dim': d, 'budget': n}. "
    "objective_function(x) returns a float to MINIMIZE; after config['budget'] calls it raises BudgetExhausted, "
    "so count your calls. The returned x must be a point you evaluated and must lie inside the bounds. "
    "prev_best_x is always None here. The functions are multimodal test functions (Ackley, Rastrigin, Griewank, "
    "Levy, Styblinski-Tang, six-hump camel) and valleys (Rosenbrock, sphere) in 2 to 10 dimensions, shifted so "
    "that the minimum is not at the centre. Each example reports the gap to the known minimum; score 1 means the "
    "minimum was found, 0 means no better than a random point. NumPy is available; each call must finish in "
    "the time limit. Good strategies mix global exploration (Latin hypercube, random restarts) with local "
    "refinement (Nelder-Mead, coordinate or pattern search, CMA-ES-like sampling) within the budget."
)

HARNESS = '''

class BudgetExhausted(Exception):
    """Raised by objective_function once the evaluation budget is spent."""


def _bb_run(key, dim, shift_seed, budget, seed):
    import random as _random
    _ns = {"__name__": "_bb_problem"}
    exec(compile(_BB_PROBLEM_SOURCE, "problem.py", "exec"), _ns)
    target = _ns["Problem"](key, dim, shift_seed)
    evaluated = []
    state = {"calls": 0, "best": None, "best_y": float("inf"), "overdraft": 0}

    def objective_function(x):
        if state["calls"] >= budget:
            state["overdraft"] += 1
            raise BudgetExhausted(f"evaluation budget of {budget} calls exhausted")
        state["calls"] += 1
        point = [float(v) for v in (x.tolist() if hasattr(x, "tolist") else x)]
        if len(point) != dim:
            raise ValueError(f"x has {len(point)} coordinates, expected {dim}")
        y = target(point)
        evaluated.append(point)
        if y < state["best_y"]:
            state["best_y"], state["best"] = y, point
        return y

    _random.seed(seed)
    try:
        import numpy as _np
        _np.random.seed(seed)
    except ImportError:
        pass
    config = {"bounds": [list(b) for b in target.bounds], "dim": dim, "budget": budget}
    error = None
    returned = None
    try:
        returned = solve(objective_function, config, None)
    except BudgetExhausted as exc:
        error = f"solve() let BudgetExhausted escape: {exc}"
    if returned is not None:
        try:
            returned = [float(v) for v in (returned.tolist() if hasattr(returned, "tolist") else returned)]
        except Exception as exc:
            error = f"solve() returned {type(returned).__name__}, not a vector: {exc}"
            returned = None
    was_evaluated = returned is not None and any(
        len(p) == len(returned) and all(abs(a - b) <= 1e-12 * (1 + abs(b)) for a, b in zip(returned, p))
        for p in evaluated)
    return {"returned": returned, "was_evaluated": was_evaluated, "best_seen": state["best"],
            "calls": state["calls"], "overdraft": state["overdraft"], "error": error}
'''


def make_dataset(shift_seed: int = 0, budget: int = EVALS_PER_FUNCTION) -> list[dict[str, Any]]:
    """One example per problem of the suite."""
    return [{"key": p.key, "name": p.name, "dim": p.dim, "shift_seed": shift_seed, "budget": budget}
            for p in problem.suite(shift_seed)]


_TYPICAL: dict[tuple[str, int, int], float] = {}


def problem_for(example: dict[str, Any]) -> problem.Problem:
    return problem.Problem(example["name"], example["dim"], example["shift_seed"])


def normalized_score(prob: problem.Problem, gap: float) -> float:
    key = (prob.name, prob.dim, 0)
    if key not in _TYPICAL:
        _TYPICAL[key] = prob.typical_gap()
    typical = _TYPICAL[key]
    return max(0.0, min(1.0, 1.0 - math.log10(1.0 + max(gap, 0.0)) / math.log10(1.0 + typical)))


def run_candidate(candidate: str, example: dict[str, Any], timeout: float = 30.0, seed: int = 0):
    """Run ``solve`` on one problem in the sandbox; returns the harness report (or raises nothing: see ok)."""
    from honing import run_code

    code = candidate + f"\n\n_BB_PROBLEM_SOURCE = {PROBLEM_SOURCE!r}\n" + HARNESS
    return run_code(code, entry_point="_bb_run",
                    args=(example["name"], example["dim"], example["shift_seed"], example["budget"], seed),
                    timeout=timeout, memory_mb=1024)


def evaluate(candidate: str, example: dict[str, Any], timeout: float = 30.0) -> tuple[float, dict[str, Any]]:
    """Score ``candidate`` on one problem (see the module docstring)."""
    score, info, _ = evaluate_detailed(candidate, example, timeout)
    return score, info


def evaluate_detailed(candidate: str, example: dict[str, Any],
                      timeout: float = 30.0) -> tuple[float, dict[str, Any], float]:
    """``(score, side_info, gap)``; the gap is ``inf`` when nothing could be scored."""
    prob = problem_for(example)
    info: dict[str, Any] = {"problem": f"{example['key']} (budget {example['budget']} evaluations)"}
    result = run_candidate(candidate, example, timeout=timeout)
    if not result.ok:
        return 0.0, {**info, "error": result.feedback(1500)}, math.inf
    report = result.value
    if result.stdout.strip():
        info["stdout"] = result.stdout[-800:]
    notes = []
    if report["error"]:
        notes.append(report["error"])
    if report["overdraft"]:
        notes.append(f"solve() tried {report['overdraft']} call(s) beyond the budget; they were refused")
    x = report["returned"]
    if x is not None and not prob.in_bounds(x):
        notes.append(f"the returned x is outside the bounds or has the wrong length ({len(x)} vs {prob.dim})")
        x = None
    elif x is not None and not report["was_evaluated"]:
        notes.append("the returned x was never passed to objective_function; the best evaluated point is used")
        x = None
    if x is None:
        x = report["best_seen"]
        if x is not None:
            notes.append("scored on the best point objective_function saw")
    if x is None:
        return 0.0, {**info, "verdict": "no evaluated point to score", "notes": notes}, math.inf
    gap = prob.gap(x)
    score = normalized_score(prob, gap)
    info.update({
        "verdict": f"f(x) = {prob(x):.6g}, known minimum {prob.minimum:.6g}, gap {gap:.4g}",
        "evaluations used": f"{report['calls']} of {example['budget']}",
    })
    if notes:
        info["notes"] = notes
    return score, info, gap


def evaluate_all(candidate: str, dataset: list[dict[str, Any]],
                 timeout: float = 30.0) -> dict[str, dict[str, float]]:
    """``{key: {"gap": g, "score": s}}`` for a candidate over the dataset."""
    out = {}
    for ex in dataset:
        score, _, gap = evaluate_detailed(candidate, ex, timeout=timeout)
        out[ex["key"]] = {"gap": gap, "score": score}
    return out


# ---- plain baselines, run in this process (trusted code) ------------------------------------


def tpe_gap(prob: problem.Problem, budget: int, seed: int = 0) -> float:
    """Optuna's TPE sampler with ``budget`` trials; returns the best gap found."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial):
        x = [trial.suggest_float(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(prob.bounds)]
        return prob(x)

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=budget)
    return max(0.0, study.best_value - prob.minimum)


def random_search_gap(prob: problem.Problem, budget: int, seed: int = 0) -> float:
    """Uniform random sampling with ``budget`` evaluations; returns the best gap found."""
    rng = random.Random(f"random/{prob.key}/{seed}")
    return min(prob.gap([rng.uniform(lo, hi) for lo, hi in prob.bounds]) for _ in range(budget))


def compare(gap_a: float, gap_b: float) -> str:
    """``'win'`` if a is clearly lower than b, ``'loss'`` if clearly higher, else ``'tie'``."""
    if math.isinf(gap_a) and math.isinf(gap_b):
        return "tie"
    if abs(gap_a - gap_b) <= max(TIE_ABSOLUTE, TIE_RELATIVE * min(gap_a, gap_b)):
        return "tie"
    return "win" if gap_a < gap_b else "loss"


def baseline_table(dataset: list[dict[str, Any]], seed: int = 0, method: str = "tpe") -> dict[str, dict[str, float]]:
    """``{key: {"gap": g, "score": s, "seconds": t}}`` for a plain baseline over the dataset."""
    fn = tpe_gap if method == "tpe" else random_search_gap
    out = {}
    for ex in dataset:
        prob = problem_for(ex)
        started = time.perf_counter()
        gap = fn(prob, ex["budget"], seed)
        out[ex["key"]] = {"gap": gap, "score": normalized_score(prob, gap), "seconds": time.perf_counter() - started}
    return out
