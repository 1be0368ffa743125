"""Merge, the refiner, frontier types and parent selection strategies through the engine."""

from __future__ import annotations

import re

import pytest

import honing as hn
from tests.conftest import ScriptedLM, fenced
from tests.helpers import CountingEvaluator, growing_lm


class SeedTwiceThenBest:
    """Parent selection that explores both components of the seed before exploiting."""

    def __init__(self) -> None:
        self.calls = 0

    def select(self, front, aggregate, rng):
        self.calls += 1
        if self.calls <= 2:
            return min(aggregate)
        return max(sorted(aggregate), key=lambda c: aggregate[c])


class AlternateComponents:
    def __init__(self) -> None:
        self.calls = 0

    def select(self, candidate_id, components, rng):
        self.calls += 1
        return [components[(self.calls - 1) % len(components)]]


def two_component_eval(candidate, example):
    text = candidate["a"] if example == 1 else candidate["b"]
    return text.count("@") / 10, {"component": "a" if example == 1 else "b"}


def test_merge_combines_two_children_that_improved_different_components():
    config = hn.Config(
        engine=hn.EngineConfig(max_metric_calls=12, parallel=False,
                               candidate_selection_strategy=SeedTwiceThenBest()),
        reflection=hn.ReflectionConfig(reflection_lm=growing_lm(), module_selector=AlternateComponents(),
                                       reflection_minibatch_size=2),
        merge=hn.MergeConfig(max_merge_invocations=1, merge_val_overlap_floor=2),
    )
    result = hn.optimize_anything({"a": "@", "b": "@"}, two_component_eval, dataset=[1, 2], config=config)
    merges = [p for p in result.proposals if p.kind == "merge"]
    assert len(merges) == 1 and merges[0].accepted
    merged = result.candidates[result.candidate_ids.index(merges[0].child_id)]
    assert merged == {"a": "@@", "b": "@@"}
    assert sorted(result.parents[result.candidate_ids.index(merges[0].child_id)]) == [1, 2]


def test_refiner_adds_a_coevolved_prompt_and_keeps_the_better_version():
    def reply(prompt):
        if "You refine a candidate" in prompt:  # the refiner's own prompt
            return fenced("@" * 5)
        return fenced("@" * 2)

    evaluator = CountingEvaluator()
    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=4, parallel=False),
                       reflection=hn.ReflectionConfig(reflection_lm=ScriptedLM(reply)),
                       refiner=hn.RefinerConfig(max_refinements=1))
    result = hn.optimize_anything({"text": "@"}, evaluator, config=config)
    assert "refiner_prompt" in result.candidates[0]
    assert result.best_score == pytest.approx(0.5)  # the refined five-@ version was kept
    assert len(evaluator.calls) == result.total_metric_calls <= 4


@pytest.mark.parametrize("frontier_type", ["instance", "objective", "hybrid", "cartesian"])
def test_every_frontier_type_runs_and_keeps_a_front(frontier_type):
    def evaluate(candidate, example):
        n = candidate.count("@")
        return n / 10, {"scores": {"length": n / 10, "parity": float(n % 2)}}

    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=20, frontier_type=frontier_type),
                       reflection=hn.ReflectionConfig(reflection_lm=growing_lm()))
    result = hn.optimize_anything("@", evaluate, dataset=[1, 2], config=config)
    assert result.pareto_front["members"]
    assert result.objective_scores[0] == {"length": 0.1, "parity": 1.0}
    keys = result.pareto_front["best"].keys()
    if frontier_type == "objective":
        assert all(k.startswith("obj:") for k in keys)
    if frontier_type == "instance":
        assert all(k.startswith("ex:") for k in keys)


def test_objective_frontier_keeps_a_specialist():
    # Odd counts score on 'parity', so the seed (one @) stays on the front as the parity specialist
    # while longer even candidates win on 'length'.
    lm = growing_lm(step=1)

    def evaluate(candidate):
        n = candidate.count("@")
        return n / 10, {"scores": {"length": n / 10, "parity": float(n == 1) * 5}}

    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=6, frontier_type="objective", parallel=False),
                       reflection=hn.ReflectionConfig(reflection_lm=lm))
    result = hn.optimize_anything("@", evaluate, config=config)
    assert 0 in result.pareto_front["members"]
    assert result.best_idx != 0


@pytest.mark.parametrize("strategy", ["pareto", "current_best", "epsilon_greedy"])
def test_parent_selection_strategies(strategy):
    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=15, candidate_selection_strategy=strategy),
                       reflection=hn.ReflectionConfig(reflection_lm=growing_lm()))
    result = hn.optimize_anything("@", CountingEvaluator(), dataset=[1, 2, 3], config=config)
    assert result.best_score > result.val_scores[0]


def test_all_components_are_rewritten_with_the_all_selector():
    lm = ScriptedLM(lambda p: fenced("@" * (max(map(len, re.findall("@+", p)), default=0) + 1)))

    def evaluate(candidate):
        return (candidate["a"].count("@") + candidate["b"].count("@")) / 10

    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=2, parallel=False),
                       reflection=hn.ReflectionConfig(reflection_lm=lm, module_selector="all"))
    result = hn.optimize_anything({"a": "@", "b": "@"}, evaluate, config=config)
    assert result.proposals[0].components == ("a", "b")
    assert len(lm.prompts) == 2


def test_refined_versions_are_recorded_so_a_rerun_on_the_same_run_dir_spends_nothing_more(tmp_path):
    """Issue 17: the refiner's evaluations bypassed the store, so a resumed run counted too few and overspent."""
    def reply(prompt):
        if "You refine a candidate" in prompt:
            return fenced("@" * (prompt.count("@") + 3))
        return fenced("@" * (prompt.count("@") + 1))

    evaluator = CountingEvaluator(cap=100)
    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=10, run_dir=str(tmp_path / "run"), parallel=False),
                       reflection=hn.ReflectionConfig(reflection_lm=ScriptedLM(reply)),
                       refiner=hn.RefinerConfig(max_refinements=1))
    first = hn.optimize_anything({"text": "@"}, evaluator, config=config)
    assert len(evaluator.calls) == first.total_metric_calls == 10
    second = hn.optimize_anything({"text": "@"}, evaluator, config=config)
    assert len(evaluator.calls) == 10  # the budget was already spent: the rerun calls nothing
    assert second.total_metric_calls == 10
    with hn.store.RunReader(tmp_path / "run") as reader:
        assert reader.metric_calls == 10
        assert any(c.origin == "refined" for c in reader.candidates.values())


def test_max_side_info_chars_changes_the_prompt():
    """Issue 17: the setting was copied by hand into the proposer's settings, and not passed on."""
    def evaluate(candidate):
        return candidate.count("@") / 10, {f"check {n}": f"check {n} said: " + "details " * 150 for n in range(60)}

    sizes = {}
    for limit in (500, 100_000):
        lm = growing_lm()
        config = hn.Config(engine=hn.EngineConfig(max_metric_calls=2, parallel=False),
                           reflection=hn.ReflectionConfig(reflection_lm=lm, max_side_info_chars=limit))
        hn.optimize_anything("@", evaluate, config=config)
        sizes[limit] = len(lm.prompt_texts[0])
    assert sizes[500] < 3_000 < 30_000 < sizes[100_000]
