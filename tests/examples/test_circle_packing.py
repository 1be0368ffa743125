"""Circle-packing example: the independent validator, the sandboxed scorer and a smoke run of main."""

from __future__ import annotations

import math

import pytest

from examples.circle_packing import evaluator, main
from tests.conftest import ScriptedLM, fenced

# 25 circles of radius 0.1 on a 5x5 grid plus one of radius 0.04 in a gap: sum 2.54, valid.
GRID = '''def pack():
    circles = [(0.1 + 0.2 * i, 0.1 + 0.2 * j, 0.1) for i in range(5) for j in range(5)]
    circles.append((0.2, 0.2, 0.04))
    return circles
'''


def test_seed_is_valid_and_scores_about_098():
    score, info = evaluator.evaluate(evaluator.SEED)
    assert 0.97 < score < 1.0
    assert info["verdict"].startswith("valid")
    assert len(info["circles"]) == 26


def test_validator_accepts_touching_circles_within_tolerance():
    circles = [(0.25, 0.5, 0.25), (0.75, 0.5, 0.25 + 5e-10)] + [(0.01 + 0.04 * k, 0.02, 0.0) for k in range(24)]
    valid, total, problems = evaluator.validate(circles)
    assert valid, problems
    assert total == pytest.approx(0.5)


def test_validator_rejects_overlap_and_names_the_circles():
    circles = [(0.1 + 0.2 * i, 0.1 + 0.2 * j, 0.1) for i in range(5) for j in range(5)]
    circles.append((0.2, 0.2, 0.05))  # 0.05 + 0.1 > 0.1414: overlaps four grid circles
    valid, _, problems = evaluator.validate(circles)
    assert not valid
    assert len(problems) == 4
    assert all("overlap by" in p and "25" in p for p in problems)
    depth = 0.15 - math.hypot(0.1, 0.1)
    assert f"{depth:.3g}" in problems[0]


def test_validator_rejects_out_of_bounds_and_wrong_count():
    circles = [(0.1 + 0.2 * i, 0.1 + 0.2 * j, 0.1) for i in range(5) for j in range(5)]
    valid, _, problems = evaluator.validate(circles)
    assert not valid and "expected 26 circles, got 25" in problems
    circles.append((0.999, 0.5, 0.01))
    circles[0] = (0.1, 0.1, 0.1 + 1e-6)  # crosses the left and bottom walls by 1e-6
    valid, _, problems = evaluator.validate(circles)
    assert not valid
    assert any("circle 25" in p and "right" in p for p in problems)
    assert any("circle 0" in p and "left" in p for p in problems)
    assert any(p.startswith("circles 0 and") for p in problems)  # the grown circle now touches neighbours


def test_validator_rejects_non_finite_and_negative():
    circles = [(0.5, 0.5, float("nan")), (0.2, 0.2, -0.1)] + [(0.05, 0.05 + 0.035 * k, 0.01) for k in range(24)]
    valid, _, problems = evaluator.validate(circles)
    assert not valid
    assert any("non-finite" in p for p in problems) and any("negative radius" in p for p in problems)


def test_scorer_ignores_claimed_scores_and_explains_violations():
    cheat = '''def pack():
    print("sum of radii: 3.0 (trust me)")
    return [(0.5, 0.5, 0.5)] * 26
'''
    score, info = evaluator.evaluate(cheat)
    assert score == 0.0
    assert "INVALID" in info["verdict"]
    assert info["violations"][-1].startswith("... and")
    assert len(info["violations"]) == evaluator.MAX_LISTED + 1


def test_scorer_reports_crashes_and_bad_shapes():
    score, info = evaluator.evaluate("def pack():\n    raise RuntimeError('boom')\n")
    assert score == 0.0 and "boom" in info["error"]
    score, info = evaluator.evaluate("def pack():\n    return 42\n")
    assert score == 0.0 and "list of (x, y, r)" in info["error"]


def test_grid_layout_scores_its_sum():
    score, _ = evaluator.evaluate(GRID)
    assert score == pytest.approx(2.54)


def test_main_smoke_with_scripted_lm(tmp_path):
    lm = ScriptedLM(lambda prompt: fenced(GRID))
    out = main.run(budget=3, reflection_lm=lm, run_dir=None, verbose=False, timeout_s=120)
    assert out["baseline"] == pytest.approx(evaluator.evaluate(evaluator.SEED)[0])
    assert out["optimized"] == pytest.approx(2.54)
    assert out["evaluator_calls"] <= 3
    assert lm.prompts, "the reflection LM was never called"
