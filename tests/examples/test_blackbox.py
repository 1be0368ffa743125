"""Black-box example: test functions, the budget wrapper, the scorer and a smoke run of main."""

from __future__ import annotations

import math

import pytest

from examples.blackbox import evaluator, main, problem
from tests.conftest import ScriptedLM, fenced

RANDOM_SEARCH = '''import random


def solve(objective_function, config, prev_best_x=None):
    best_x, best_y = None, float("inf")
    for _ in range(config["budget"]):
        x = [random.uniform(lo, hi) for lo, hi in config["bounds"]]
        y = objective_function(x)
        if y < best_y:
            best_x, best_y = x, y
    return best_x
'''

GREEDY = '''def solve(objective_function, config, prev_best_x=None):
    x = [(lo + hi) / 2 for lo, hi in config["bounds"]]
    while True:  # never stops by itself: only the budget wrapper ends it
        objective_function(x)
'''


@pytest.mark.parametrize("name", sorted(problem.FUNCTIONS))
@pytest.mark.parametrize("dim", [2, 5])
def test_unshifted_functions_have_their_known_minimum(name, dim):
    func, (lo, hi), argmin, minimum = problem.FUNCTIONS[name]
    if name == "six_hump_camel" and dim != 2:
        pytest.skip("two-dimensional function")
    x = argmin(dim)
    assert func(x) == pytest.approx(minimum(dim), abs=1e-9)
    assert all(lo <= v <= hi for v in x)
    for k in range(dim):  # small moves along each axis never go below the minimum
        for step in (-1e-3, 1e-3):
            moved = list(x)
            moved[k] += step
            assert func(moved) >= minimum(dim) - 1e-12


def test_classic_values():
    assert problem.styblinski_tang([problem._ST_ARGMIN] * 3) == pytest.approx(-39.16617 * 3, abs=1e-4)
    assert problem.six_hump_camel(list(problem._CAMEL_ARGMIN)) == pytest.approx(-1.0316, abs=1e-4)
    assert problem.rastrigin([1.0, 0.0]) == pytest.approx(1.0)
    assert problem.rosenbrock([0.0, 0.0]) == pytest.approx(1.0)


def test_suite_is_shifted_and_keeps_minimum_inside_the_bounds():
    suite = problem.suite()
    assert len(suite) >= 10 and len({p.key for p in suite}) == len(suite)
    assert {p.dim for p in suite} >= {2, 5, 10}
    for p in suite:
        assert p.in_bounds(p.argmin)
        assert p(p.argmin) == pytest.approx(p.minimum, abs=1e-9)
        assert p.gap(p.argmin) == pytest.approx(0.0, abs=1e-9)
        assert any(abs(s) > 1e-3 for s in p.shift)
        centre = [(lo + hi) / 2 for lo, hi in p.bounds]
        assert p.gap(centre) > 1e-3, "the centre of the box must not be optimal"
        assert p.typical_gap() > 0


def test_normalized_score_is_one_at_minimum_and_about_zero_for_random_points():
    p = problem.Problem("rastrigin", 5)
    assert evaluator.normalized_score(p, 0.0) == 1.0
    assert evaluator.normalized_score(p, p.typical_gap()) == pytest.approx(0.0, abs=1e-12)
    assert evaluator.normalized_score(p, 1e9) == 0.0


def test_budget_wrapper_stops_a_greedy_solve():
    example = evaluator.make_dataset(budget=25)[0]
    report = evaluator.run_candidate(GREEDY, example, timeout=20).value
    assert report["calls"] == 25
    assert report["overdraft"] == 1
    assert "BudgetExhausted" in report["error"]
    score, info = evaluator.evaluate(GREEDY, example, timeout=20)
    assert info["evaluations used"] == "25 of 25"
    assert any("beyond the budget" in n for n in info["notes"])
    assert 0.0 < score < 1.0  # scored on the centre, the one point it evaluated


def test_unevaluated_or_out_of_bounds_answers_are_not_trusted():
    example = next(ex for ex in evaluator.make_dataset(budget=10) if ex["key"] == "sphere-5d")
    p = evaluator.problem_for(example)
    oracle = f'''def solve(objective_function, config, prev_best_x=None):
    objective_function([0.0] * config["dim"])
    return {p.argmin!r}
'''
    score, info, gap = evaluator.evaluate_detailed(oracle, example)
    assert any("never passed" in n for n in info["notes"])
    assert gap == pytest.approx(p.gap([0.0] * 5)) and score < 1.0
    outside = 'def solve(objective_function, config, prev_best_x=None):\n    return [99.0] * config["dim"]\n'
    score, info = evaluator.evaluate(outside, example)
    assert score == 0.0 and any("outside the bounds" in n for n in info["notes"])


def test_random_search_candidate_beats_the_seed():
    example = next(ex for ex in evaluator.make_dataset(budget=50) if ex["key"] == "sphere-5d")
    assert evaluator.evaluate(RANDOM_SEARCH, example)[0] > evaluator.evaluate(evaluator.SEED, example)[0]


def test_compare_and_baselines():
    assert evaluator.compare(1.0, 1.005) == "tie"
    assert evaluator.compare(0.5, 1.0) == "win"
    assert evaluator.compare(math.inf, 1.0) == "loss"
    p = problem.Problem("sphere", 5)
    assert evaluator.random_search_gap(p, 30) < p.typical_gap()


def test_tpe_baseline_runs_when_optuna_is_installed():
    pytest.importorskip("optuna")
    p = problem.Problem("sphere", 2)
    assert evaluator.tpe_gap(p, 15, seed=0) < p.typical_gap()


def test_main_smoke_with_scripted_lm():
    lm = ScriptedLM(lambda prompt: fenced(RANDOM_SEARCH))
    out = main.run(budget=6, reflection_lm=lm, evals_per_function=20, problems=["sphere-5d", "ackley-2d"],
                   baseline="random", verbose=False, timeout_s=120)
    assert out["evaluator_calls"] <= 6
    assert set(out["verdicts"]) == {"sphere-5d", "ackley-2d"}
    assert out["wins"] + out["ties"] + out["losses"] == 2
    assert 0.0 <= out["baseline"] <= out["optimized"] <= 1.0
    assert lm.prompts
