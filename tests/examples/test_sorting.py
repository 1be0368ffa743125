"""Sorting example: the sandboxed scorer and a smoke run of main."""

from __future__ import annotations

import pytest

from examples.sorting import evaluator, main
from tests.conftest import MERGE_SORT, ScriptedLM, fenced


def _example(name):
    return next(ex for ex in evaluator.make_dataset() if ex["name"] == name)


def test_dataset_has_the_seed_cases_and_large_lists():
    data = evaluator.make_dataset()
    assert len(data) == 8
    assert data[0]["input"] == [64, 34, 25, 12, 22, 11, 90]
    assert max(len(ex["input"]) for ex in data) == 2000
    assert evaluator.make_dataset(0) == data


def test_seed_is_correct_but_slow():
    score, info = evaluator.evaluate(evaluator.SEED, _example("small"))
    assert 0.5 < score <= 1.0 and info["verdict"].startswith("correct")


def test_scorer_flags_wrong_output():
    score, info = evaluator.evaluate("def sort_list(arr):\n    return arr[::-1]\n", _example("small"))
    assert score == 0.0
    assert "WRONG" in info["verdict"] and "index 0" in info["verdict"]
    assert info["expected"].startswith("[11, 12")
    score, info = evaluator.evaluate("def sort_list(arr):\n    return arr[:-1]\n", _example("duplicates-small"))
    assert score == 0.0 and "WRONG" in info["verdict"]


def test_scorer_reports_crashes_and_rejects_builtin_sort():
    score, info = evaluator.evaluate("def sort_list(arr):\n    return 1 / 0\n", _example("small"))
    assert score == 0.0 and "ZeroDivisionError" in info["error"]
    score, info = evaluator.evaluate("def sort_list(arr):\n    return sorted(arr)\n", _example("small"))
    assert score == 0.0 and "REJECTED" in info["verdict"]
    score, info = evaluator.evaluate("import heapq\ndef sort_list(arr):\n    return heapq.nsmallest(len(arr), arr)\n",
                                     _example("small"))
    assert score == 0.0 and "imports heapq" in info["verdict"]
    assert evaluator.forbidden_use("def sort_list(a):\n    a.sort()\n    return a\n") == "calls .sort()"
    assert evaluator.forbidden_use(MERGE_SORT) is None


def test_a_candidate_that_zeroes_the_reference_timing_is_scored_not_crashed():
    cheat = "max = lambda *args, **kwargs: 0.0\n" + MERGE_SORT
    score, info = evaluator.evaluate(cheat, _example("random-2000"))
    assert 0.5 <= score <= 1.0 and info["verdict"].startswith("correct")


def test_merge_sort_beats_bubble_sort_on_a_large_list():
    example = _example("random-2000")
    assert evaluator.evaluate(MERGE_SORT, example)[0] > evaluator.evaluate(evaluator.SEED, example)[0]


def test_speed_score_bounds():
    assert evaluator.speed_score(1.0, 1.0) == 1.0
    assert evaluator.speed_score(10.0, 1.0) == pytest.approx(0.75)
    assert evaluator.speed_score(1e9, 1.0) == 0.0


def test_main_smoke_with_scripted_lm():
    lm = ScriptedLM(lambda prompt: fenced(MERGE_SORT))
    dataset = [_example("small"), _example("reversed-100")]
    out = main.run(budget=6, reflection_lm=lm, verbose=False, timeout_s=120, dataset=dataset)
    assert out["evaluator_calls"] <= 6
    assert 0.5 < out["baseline"] <= out["optimized"] <= 1.0
    assert lm.prompts
