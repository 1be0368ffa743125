"""Resuming through optimize_anything(run_dir=...): the second call continues the first."""

from __future__ import annotations

from collections import Counter

import pytest

import honing as hn
from honing.store import RunReader
from tests.helpers import CountingEvaluator, growing_lm

DATASET = ["a", "b", "c"]


def _run(run_dir, budget: int, evaluator, lm=None, **engine):
    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=budget, run_dir=str(run_dir), **engine),
                       reflection=hn.ReflectionConfig(reflection_lm=lm or growing_lm()))
    return hn.optimize_anything("@", evaluator=evaluator, dataset=DATASET, objective="more @", config=config)


def test_a_second_call_continues_without_repeating_work(tmp_path):
    first_eval, second_eval = CountingEvaluator(), CountingEvaluator()
    first = _run(tmp_path, 9, first_eval)
    assert first.run_dir == str(tmp_path)
    second = _run(tmp_path, 24, second_eval)

    assert ("@", repr("a")) in first_eval.calls
    assert not [c for c in second_eval.calls if c[0] == "@"], "the seed was evaluated again"
    both = Counter(first_eval.calls + second_eval.calls)
    assert [pair for pair, n in both.items() if n > 1] == []
    assert len(first_eval.calls) + len(second_eval.calls) <= 24
    assert second.total_metric_calls == len(first_eval.calls) + len(second_eval.calls)
    assert second.best_score >= first.best_score
    assert len(second.candidates) >= len(first.candidates)

    with RunReader(tmp_path) as reader:
        budgets = [s["config"]["engine"]["max_metric_calls"] for s in reader.sessions]
        assert budgets == [9, 24]
        assert reader.metric_calls == second.total_metric_calls
        assert reader.best_id() == second.candidate_ids[second.best_idx]


def test_a_spent_budget_runs_nothing_more(tmp_path):
    _run(tmp_path, 6, CountingEvaluator())
    again = CountingEvaluator()
    result = _run(tmp_path, 6, again)
    assert again.calls == []
    assert result.total_metric_calls <= 6


def test_max_candidate_proposals_counts_the_whole_run_like_the_budget(tmp_path):
    """A resumed run goes on to the run's limit: the same call after a crash finishes it, not starts it over."""
    seen = []

    def run(limit):
        config = hn.Config(engine=hn.EngineConfig(max_candidate_proposals=limit, run_dir=str(tmp_path), parallel=False),
                           reflection=hn.ReflectionConfig(reflection_lm=growing_lm()),
                           stop_callbacks=[lambda state: seen.append(state.i + 1) or False])
        return hn.optimize_anything("@", evaluator=CountingEvaluator(), dataset=DATASET, objective="more @",
                                    config=config)

    assert len(run(3).proposals) == 3
    assert len(run(3).proposals) == 0  # the limit is reached: nothing more
    seen.clear()
    assert len(run(5).proposals) == 2
    assert seen[0] == 3  # GEPA's state.i counts the stored proposals too
    with RunReader(tmp_path) as reader:
        assert len(reader.proposals) == 5


def test_resume_with_another_objective_is_refused(tmp_path):
    _run(tmp_path, 3, CountingEvaluator())
    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=6, run_dir=str(tmp_path)),
                       reflection=hn.ReflectionConfig(reflection_lm=growing_lm()))
    with pytest.raises(hn.StoreMismatchError, match="objective"):
        hn.optimize_anything("@", evaluator=CountingEvaluator(), dataset=DATASET, objective="fewer @",
                             config=config)


def test_a_store_given_as_a_string(tmp_path):
    config = hn.Config(store=str(tmp_path / "by-string"), engine=hn.EngineConfig(max_metric_calls=4),
                       reflection=hn.ReflectionConfig(reflection_lm=growing_lm()))
    result = hn.optimize_anything("@", evaluator=CountingEvaluator(), dataset=DATASET, config=config)
    with RunReader(tmp_path / "by-string") as reader:
        assert reader.metric_calls == result.total_metric_calls
