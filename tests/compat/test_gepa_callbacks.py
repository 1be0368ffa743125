"""GEPA-style callback objects and stop callbacks that read GEPA's state, on honing runs."""

from __future__ import annotations

import pytest

import honing as hn
from honing._gepa_callbacks import GEPA_EVENTS
from tests.helpers import CountingEvaluator, growing_lm


class GEPARecorder:
    """Implements every GEPA 0.1.4 callback method; keeps (method, event) pairs."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []
        self.honing_ends = 0

    def __getattr__(self, name: str):
        if name in GEPA_EVENTS:
            return lambda event: self.events.append((name, event))
        raise AttributeError(name)

    def on_end(self, result) -> None:  # a honing method on the same object still gets honing's event
        self.honing_ends += 1

    def named(self, method: str) -> list[dict]:
        return [event for name, event in self.events if name == method]


def run(callbacks=(), stop_callbacks=None, budget=20, **kwargs):
    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=budget, parallel=False),
                       reflection=hn.ReflectionConfig(reflection_lm=growing_lm()),
                       callbacks=list(callbacks), stop_callbacks=stop_callbacks)
    return hn.optimize_anything("@", CountingEvaluator(with_example=True), dataset=[1, 2], config=config, **kwargs)


def test_a_gepa_callback_object_receives_gepas_events_with_gepas_fields():
    recorder = GEPARecorder()
    result = run([recorder])
    names = [name for name, _ in recorder.events]
    assert names[0] == "on_optimization_start" and names[-1] == "on_optimization_end"
    start = recorder.named("on_optimization_start")[0]
    assert start["seed_candidate"] == {"candidate": "@"} and start["trainset_size"] == start["valset_size"] == 2
    iterations = recorder.named("on_iteration_end")
    assert [e["iteration"] for e in iterations] == list(range(1, len(iterations) + 1))
    assert len(iterations) == len([p for p in result.proposals if p.kind != "seed_generation"])
    accepted = recorder.named("on_candidate_accepted")
    assert [e["new_candidate_idx"] for e in accepted] == list(range(1, result.num_candidates))
    assert all(e["parent_ids"] == [result.parents[e["new_candidate_idx"]][0]] for e in accepted)
    assert len(accepted) == sum(e["proposal_accepted"] for e in iterations)
    valset = recorder.named("on_valset_evaluated")
    assert [e["candidate_idx"] for e in valset] == list(range(result.num_candidates))
    assert all(e["scores_by_val_id"] == result.val_subscores[e["candidate_idx"]] for e in valset)
    budget = recorder.named("on_budget_updated")
    assert len(budget) == result.total_metric_calls and budget[-1]["metric_calls_used"] == result.total_metric_calls
    end = recorder.named("on_optimization_end")[0]
    assert end["best_candidate_idx"] == result.best_idx and end["total_metric_calls"] == result.total_metric_calls
    assert end["final_state"].program_full_scores_val_set == result.val_aggregate_scores
    assert recorder.honing_ends == 1


def test_one_iteration_delivers_gepas_events_in_gepas_order():
    recorder = GEPARecorder()
    run([recorder], budget=6)
    first = []
    for name, event in recorder.events:
        if name in ("on_budget_updated", "on_valset_evaluated", "on_pareto_front_updated"):
            continue  # delivered as evaluations finish
        if event.get("iteration") == 1:
            first.append(name)
    assert first == ["on_iteration_start", "on_candidate_selected", "on_minibatch_sampled", "on_evaluation_start",
                     "on_evaluation_end", "on_reflective_dataset_built", "on_proposal_start", "on_proposal_end",
                     "on_candidate_accepted", "on_state_saved", "on_iteration_end"]
    proposal = recorder.named("on_proposal_end")[0]
    assert proposal["new_instructions"] == {"candidate": "@@"}
    assert "@" in proposal["raw_lm_outputs"]["candidate"]
    dataset = recorder.named("on_reflective_dataset_built")[0]["dataset"]["candidate"]
    assert all(row["hint"] == "more @ is better" for row in dataset)


def test_a_callback_that_raises_stops_the_run_unlike_gepa():
    class Broken:
        def on_candidate_accepted(self, event):
            raise RuntimeError("dashboard down")

    with pytest.raises(hn.CallbackError, match="dashboard down"):
        run([Broken()])


def test_gepa_style_stoppers_read_gepas_state():
    seen = []

    def max_evals(state) -> bool:
        seen.append((state.total_num_evals, state.i, len(state.program_candidates)))
        return state.total_num_evals >= 6

    result = run(stop_callbacks=max_evals, budget=50)
    assert result.stop_reason == "max_evals"
    assert 6 <= result.total_metric_calls <= 6 + 2  # a proposal in flight when it fired may finish
    assert seen[0][0] == 2 and seen[0][1] == -1 and seen[0][2] == 1  # after the seed: GEPA's i starts at -1


def test_gepas_own_stopper_classes_work_as_written():
    class NoImprovementStopper:  # GEPA 0.1.4's logic, as a user would have copied or imported it
        def __init__(self, patience: int) -> None:
            self.patience, self.best, self.stale = patience, float("-inf"), 0

        def __call__(self, gepa_state) -> bool:
            score = max(gepa_state.program_full_scores_val_set)
            self.best, self.stale = (score, 0) if score > self.best else (self.best, self.stale + 1)
            return self.stale >= self.patience

    class MaxCandidateProposalsStopper:
        def __init__(self, n: int) -> None:
            self.n = n

        def __call__(self, gepa_state) -> bool:
            return gepa_state.i >= self.n - 1

    result = run(stop_callbacks=[MaxCandidateProposalsStopper(3)], budget=50)
    assert result.stop_reason == "MaxCandidateProposalsStopper" and len(result.proposals) == 3
    flat = hn.optimize_anything("@", lambda c, example: 0.5, dataset=[1, 2], config=hn.Config(
        engine=hn.EngineConfig(max_metric_calls=60, parallel=False),
        reflection=hn.ReflectionConfig(reflection_lm=growing_lm()), stop_callbacks=[NoImprovementStopper(2)]))
    assert flat.stop_reason == "NoImprovementStopper"


def test_honing_stoppers_still_get_the_run_status():
    result = run(stop_callbacks=lambda status: status.metric_calls >= 4 and status.best_score is not None, budget=50)
    assert result.total_metric_calls <= 6


def test_creating_gepa_stop_in_the_run_dir_stops_the_run(tmp_path):
    run_dir = tmp_path / "run"
    evaluator = CountingEvaluator()

    def evaluate(candidate):
        if len(evaluator.calls) == 3:
            (run_dir / "gepa.stop").touch()  # what a GEPA user's script does to stop a run
        return evaluator(candidate)

    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=50, parallel=False, run_dir=str(run_dir)),
                       reflection=hn.ReflectionConfig(reflection_lm=growing_lm()))
    result = hn.optimize_anything("@", evaluate, config=config)
    assert result.stop_reason == "StopFile" and result.total_metric_calls == 4


def test_a_gepa_state_attribute_honing_lacks_is_named():
    seen = []

    def stopper(state) -> bool:
        try:
            _ = state.full_program_trace
        except AttributeError as exc:
            seen.append(str(exc))
        return True

    run(stop_callbacks=stopper)
    assert "full_program_trace" in seen[0] and "total_num_evals" in seen[0]
