"""GEPA's result fields, serialization and lineage views on honing's Result."""

from __future__ import annotations

import json

import pytest

import honing as hn
from tests.conftest import ScriptedLM, fenced
from tests.helpers import longest_run


def picky_lm() -> ScriptedLM:
    """Grows the run of '@' by one; every third reply is worse (rejected), so the pool has gaps."""
    calls = [0]

    def reply(prompt: str) -> str:
        calls[0] += 1
        return fenced("x" if calls[0] % 3 == 0 else "@" * (longest_run(prompt) + 1))

    return ScriptedLM(reply)


def evaluate(candidate, example):
    """Example 0 rewards '@', example 1 rewards length up to 3, so candidates specialize."""
    if example == 0:
        return min(candidate.count("@"), 10) / 10, {"scores": {"ats": candidate.count("@")}}
    return min(len(candidate), 3) / 3, {"scores": {"ats": candidate.count("@")}}


@pytest.fixture(scope="module")
def result() -> hn.Result:
    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=30, parallel=False, track_best_outputs=True, seed=7),
                       reflection=hn.ReflectionConfig(reflection_lm=picky_lm(), reflection_minibatch_size=2))
    return hn.optimize_anything("@", evaluate, dataset=[0, 1], config=config)


def test_gepa_fields_describe_the_pool(result):
    n = result.num_candidates
    assert n >= 3
    assert len(result.val_aggregate_scores) == len(result.val_subscores) == len(result.discovery_eval_counts) == n
    for i in range(n):
        subscores = result.val_subscores[i]
        assert set(subscores) == {0, 1}  # valset positions, as GEPA's ids
        assert result.val_aggregate_scores[i] == pytest.approx(sum(subscores.values()) / 2)
        assert result.val_scores[i] == pytest.approx(result.val_aggregate_scores[i])
    assert result.best_idx == max(range(n), key=lambda i: result.val_aggregate_scores[i])
    assert result.num_val_instances == 2
    for position, best in result.per_val_instance_best_candidates.items():
        top = max(s[position] for s in result.val_subscores)
        assert best == {i for i, s in enumerate(result.val_subscores) if s[position] == top}
    assert result.num_full_val_evals == n and result.seed == 7


def test_discovery_counts_grow_with_the_budget_spent(result):
    counts = result.discovery_eval_counts
    assert counts[0] == 0
    assert counts == sorted(counts) and counts[-1] <= result.total_metric_calls
    assert all(c > 0 for c in counts[1:])


def test_objective_fields(result):
    assert result.val_aggregate_subscores is not None
    ats = [row["ats"] for row in result.val_aggregate_subscores]
    assert result.objective_pareto_front == {"ats": max(ats)}
    assert result.per_objective_best_candidates == {"ats": {i for i, a in enumerate(ats) if a == max(ats)}}


def test_best_outputs_valset_is_keyed_by_valset_position(result):
    assert set(result.best_outputs_valset) == {0, 1}
    for position, entries in result.best_outputs_valset.items():
        assert {i for i, _ in entries} == result.per_val_instance_best_candidates[position]


def test_no_objectives_means_none_as_in_gepa():
    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=2),
                       reflection=hn.ReflectionConfig(reflection_lm=picky_lm()))
    plain = hn.optimize_anything("@", lambda c: len(c) / 10, config=config)
    assert plain.val_aggregate_subscores is None and plain.per_objective_best_candidates is None
    assert plain.objective_pareto_front is None and plain.best_outputs_valset is None
    assert plain.val_subscores[0] == {0: 0.1}  # single-task: one example, id 0


def test_round_trip_through_json(result):
    again = hn.Result.from_dict(json.loads(result.to_json()))
    assert again == result


def test_from_gepas_own_result_dict():
    gepa_dict = {  # what GEPAResult.to_dict() returns for a str seed
        "candidates": [{"current_candidate": "a"}, {"current_candidate": "ab"}], "parents": [[None], [0]],
        "val_aggregate_scores": [0.5, 0.75], "val_subscores": [{"0": 0.5, "1": 0.5}, {"0": 1.0, "1": 0.5}],
        "best_outputs_valset": None, "per_val_instance_best_candidates": {"0": [1], "1": [0, 1]},
        "val_aggregate_subscores": None, "per_objective_best_candidates": None, "objective_pareto_front": None,
        "discovery_eval_counts": [0, 6], "total_metric_calls": 10, "num_full_val_evals": 2, "run_dir": None,
        "seed": 0, "_str_candidate_key": "current_candidate", "best_idx": 1, "validation_schema_version": 2,
    }
    result = hn.Result.from_dict(gepa_dict)
    assert result.best_candidate == "ab" and result.best_idx == 1 and result.best_score == 0.75
    assert result.candidates == ["a", "ab"] and result.parents == [[], [0]]
    assert result.per_val_instance_best_candidates == {0: {1}, 1: {0, 1}}
    assert result.val_subscores[1] == {0: 1.0, 1: 0.5}


def test_from_dict_names_what_is_missing():
    with pytest.raises(ValueError, match="lacks"):
        hn.Result.from_dict({"best_candidate": "x"})


def test_best_refiner_prompt():
    def lm(prompt: str) -> str:
        if "`refiner_prompt`" in prompt:  # the refinement prompt evolves too: keep it recognisable
            return fenced("REFINE CAREFULLY, once more")
        return fenced("@" * (longest_run(prompt) + 1))

    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=6, parallel=False),
                       reflection=hn.ReflectionConfig(reflection_lm=lm),
                       refiner=hn.RefinerConfig(refiner_prompt="REFINE CAREFULLY"))
    refined = hn.optimize_anything("@", lambda c: c.count("@") / 10, config=config)
    assert refined.best_refiner_prompt is not None and "REFINE" in refined.best_refiner_prompt
    assert hn.optimize_anything("@", lambda c: 0.5, config=config.replace(refiner=None)).best_refiner_prompt is None


def test_candidate_tree_dot_and_html(result):
    dot = result.candidate_tree_dot()
    assert dot.startswith("digraph") and dot.count("->") == sum(len(p) for p in result.parents)
    assert f"c{result.best_idx} [" in dot and "gold" in dot
    page = result.candidate_tree_html()
    assert page.count("<li>") == result.num_candidates and "<script" not in page


def test_candidate_text_cannot_inject_into_the_tree_page():
    hostile = "</pre><script>alert(1)</script>"

    def lm(prompt: str) -> str:
        return fenced(hostile + "@" * (longest_run(prompt) + 1))

    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=3),
                       reflection=hn.ReflectionConfig(reflection_lm=lm))
    page = hn.optimize_anything("@", lambda c: c.count("@") / 10, config=config).candidate_tree_html()
    assert "<script>" not in page and "&lt;script&gt;" in page
