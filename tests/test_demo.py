"""``honing demo``'s task and report, with a scripted LM (the real model runs in tests/e2e)."""

from __future__ import annotations

import re

import pytest

from honing import _demo
from honing._demo_task import SEED, evaluate, forbidden_use
from tests.conftest import MERGE_SORT, ScriptedLM


@pytest.mark.parametrize("code, used", [
    ("def sort_list(arr):\n    return sorted(arr)", "calls sorted()"),
    ("def sort_list(arr):\n    arr.reverse()\n    return sorted(arr)", "calls sorted()"),
    ("def sort_list(arr):\n    arr.sort()\n    return arr", "calls .sort()"),
    ("import heapq\ndef sort_list(arr):\n    heapq.heapify(arr)\n    return [heapq.heappop(arr) for _ in arr[:]]",
     "imports heapq"),
    ("from bisect import insort\ndef sort_list(arr):\n    out = []\n    [insort(out, x) for x in arr]\n    return out",
     "imports bisect"),
    ("import numpy as np\ndef sort_list(arr):\n    return list(np.sort(arr))", "imports numpy"),
    ("def sort_list(arr):\n    return __builtins__['sorted'](arr)", "uses __builtins__"),
    ("def sort_list(arr):\n    return getattr(arr, 'sort')()", "calls getattr()"),
    (SEED, None),
    (MERGE_SORT, None),
    ("def sort_list(arr:\n", None),  # a syntax error is the sandbox's to report
])
def test_what_the_demo_rejects(code, used):
    assert forbidden_use(code) == used


def test_builtin_sorts_score_zero_and_a_real_algorithm_beats_the_seed():
    assert evaluate("def sort_list(arr):\n    return sorted(arr)")[0] == 0.0
    seed, _ = evaluate(SEED)
    better, info = evaluate(MERGE_SORT)
    assert 0 < seed < better
    assert set(info["cases"]) == {"random", "reversed", "duplicates"}
    wrong, info = evaluate("def sort_list(arr):\n    return arr")
    assert wrong == 0.0 and "small" in info["cases"]


def test_a_candidate_shadowing_sorted_is_still_checked_against_the_real_one():
    cheat = "sorted = lambda data: data\ndef sort_list(arr):\n    return arr"
    assert evaluate(cheat)[0] == 0.0


def test_a_candidate_that_zeroes_the_reference_timing_is_scored_not_crashed():
    # Shadowing max() makes the harness report a reference time of 0 s; the scorer must not divide by it.
    cheat = "max = lambda *args, **kwargs: 0.0\n" + MERGE_SORT
    score, info = evaluate(cheat)
    assert 0.0 <= score <= 1.0 and set(info["cases"]) == {"random", "reversed", "duplicates"}


def test_the_demo_reports_one_seed_score_the_best_the_diff_and_the_run(tmp_path, capsys):
    lm = ScriptedLM(lambda prompt: f"Merge sort is n log n.\n```python\n{MERGE_SORT}```")
    assert _demo.run_demo(budget=3, reflection_lm=lm, run_dir=str(tmp_path / "run"), timeout_s=60) == 0
    out = capsys.readouterr().out
    scores = re.findall(r"seed score ([\d.]+)", out)
    assert len(scores) == 1  # scored once, reported once
    match = re.search(r"seed score ([\d.]+) -> best score ([\d.]+)", out)
    assert float(match.group(2)) > float(match.group(1))
    assert "+++ best" in out and "+    middle = len(arr) // 2" in out
    assert f"run stored in {tmp_path / 'run'}" in out
    assert "per call" in out


def test_a_busy_machine_is_named_in_the_report(tmp_path, capsys):
    lm = ScriptedLM(lambda prompt: "no idea")
    _demo.run_demo(budget=2, reflection_lm=lm, run_dir=str(tmp_path / "run"), timeout_s=60)
    out = capsys.readouterr().out
    assert "no candidate beat the seed" in out
    # a scripted (or hosted) LM is not slowed by a busy machine
    assert "machine was busy" not in out and "cores busy" not in out
    result = _Result()
    _demo._summary(result, 200.0, busy=1.7, cores=2, local=True)
    out = capsys.readouterr().out
    assert "the model took 30 s per call (4 calls" in out
    assert "the machine was busy: other programs kept about 1.7 of its 2 cores busy" in out
    _demo._summary(result, 200.0, busy=0.1, cores=2, local=True)
    assert "machine was busy" not in capsys.readouterr().out


class _Usage:
    duration_s = 60.0


class _Proposal:
    accepted = False
    usage = _Usage()


class _Result:
    val_scores = [0.2]
    best_score = 0.2
    best_idx = 0
    best_candidate = SEED
    proposals = [_Proposal(), _Proposal()]
    total_metric_calls = 3
    run_dir = None
    lm_calls = 4
    lm_prompt_tokens = 4000
    lm_completion_tokens = 900
