"""Evaluators written for GEPA 0.1.4 run on honing unchanged; mistakes stop the run before it wastes budget."""

from __future__ import annotations

import asyncio
import threading

import pytest

import honing as hn
from tests.helpers import growing_lm


def config(lm=None, **engine):
    engine.setdefault("max_metric_calls", 12)
    return hn.Config(engine=hn.EngineConfig(**engine),
                     reflection=hn.ReflectionConfig(reflection_lm=lm or growing_lm()))


def at_score(text: str) -> float:
    return min(text.count("@"), 10) / 10


# -- GEPA's calling convention ----------------------------------------------------------

def test_example_is_passed_by_keyword_as_gepa_does():
    seen = []

    def evaluate(candidate, *, example):  # keyword-only: fails if passed positionally
        seen.append(example)
        return at_score(candidate), {"x": example["x"]}

    result = hn.optimize_anything("@", evaluator=evaluate, dataset=[{"x": 1}, {"x": 2}], config=config())
    assert result.best_score > 0.1
    assert {e["x"] for e in seen} == {1, 2}


def test_kwargs_evaluator_gets_example_and_opt_state():
    received = []

    def evaluate(candidate, **kwargs):
        received.append(kwargs)
        return at_score(candidate)

    hn.optimize_anything("@", evaluator=evaluate, dataset=[1, 2], config=config(max_metric_calls=6))
    assert received and all(set(k) == {"example", "opt_state"} for k in received)
    assert all(isinstance(k["opt_state"], hn.OptimizationState) for k in received)


def test_a_second_positional_parameter_with_another_name_still_gets_the_example():
    def evaluate(candidate, ex):
        return at_score(candidate) + ex / 100

    result = hn.optimize_anything("@", evaluate, dataset=[1, 2], config=config(max_metric_calls=4))
    assert result.best_score is not None and result.best_score > 0


def test_single_task_evaluator_with_optional_example_is_called_without_it():
    calls = []

    def evaluate(candidate, example=None, opt_state=None):
        calls.append((example, opt_state))
        return at_score(candidate)

    hn.optimize_anything("@", evaluate, config=config(max_metric_calls=3))
    assert calls and all(example is None for example, _ in calls)
    assert all(isinstance(state, hn.OptimizationState) for _, state in calls)


def test_opt_state_holds_the_examples_best_evaluations_best_first_capped_at_k():
    states: list[tuple[str, list[dict]]] = []
    lock = threading.Lock()

    def evaluate(candidate, example, opt_state: hn.OptimizationState):
        with lock:
            states.append((example, [dict(e) for e in opt_state.best_example_evals]))
        return at_score(candidate) + example / 1000, {"text": candidate, "example": example}

    hn.optimize_anything("@", evaluate, dataset=[1, 2], config=config(max_metric_calls=14, parallel=False,
                                                                       best_example_evals_k=2))
    assert states[0][1] == [] and states[1][1] == []  # the seed's evaluations come first: nothing before them
    later = [(example, evals) for example, evals in states if evals]
    assert later
    for example, evals in later:
        assert len(evals) <= 2
        assert [e["score"] for e in evals] == sorted((e["score"] for e in evals), reverse=True)
        assert all(e["side_info"]["example"] == example for e in evals)  # only this example's history
    example, evals = later[-1]
    best_before = max(s for ex, ev in states[:-1] for s in [e["score"] for e in ev] if ex == example)
    assert evals[0]["score"] >= best_before


class Recorder:
    def __init__(self) -> None:
        self.evaluations: list = []

    def on_evaluation(self, record) -> None:
        self.evaluations.append(record)


def test_the_opt_state_a_user_mutates_does_not_change_the_run():
    def evaluate(candidate, example, opt_state):
        for entry in opt_state.best_example_evals:
            entry["side_info"]["poison"] = True
            entry["score"] = -100
        return at_score(candidate), {"ok": 1}

    recorder = Recorder()
    cfg = config(max_metric_calls=5, parallel=False).replace(callbacks=[recorder])
    result = hn.optimize_anything("@", evaluate, dataset=[1], config=cfg)
    assert result.best_score > 0
    assert recorder.evaluations and all("poison" not in e.side_info for e in recorder.evaluations)


# -- async evaluators --------------------------------------------------------------------

def test_async_evaluators_are_awaited_and_their_logs_captured():
    loops = set()

    async def evaluate(candidate, example):
        loops.add(id(asyncio.get_running_loop()))
        await asyncio.sleep(0.001)
        hn.log("scored", example)
        return at_score(candidate), {"example": example}

    recorder = Recorder()
    result = hn.optimize_anything("@", evaluate, dataset=[1, 2, 3],
                                  config=config(max_metric_calls=8).replace(callbacks=[recorder]))
    assert result.best_score > 0.1
    evaluations = recorder.evaluations
    assert evaluations and all(e.error is None for e in evaluations)
    assert all(f"scored {e.side_info['example']}" in e.side_info["log"] for e in evaluations)
    assert len(loops) == 1  # one shared loop: clients bound to a loop keep working between calls


# -- scores ---------------------------------------------------------------------------------

def test_true_is_a_score_of_one_as_in_gepa():
    np = pytest.importorskip("numpy")

    def evaluate(candidate, example):
        return {"bool": True, "np_bool": np.bool_(True), "np_float": np.float32(0.5)}[example]

    result = hn.optimize_anything("@", evaluate, dataset=["bool", "np_bool", "np_float"],
                                  config=config(max_metric_calls=3))
    assert result.val_subscores[0] == {0: 1.0, 1: 1.0, 2: 0.5}


def test_component_specific_scores_are_objectives_named_like_gepa():
    def evaluate(candidate):
        return 0.5, {"scores": {"speed": 1.0}, "text_specific_info": {"scores": {"style": 0.25}, "note": "x"}}

    result = hn.optimize_anything({"text": "@"}, evaluate, config=config(max_metric_calls=2))
    assert result.val_aggregate_subscores[0] == {"speed": 1.0, "text::style": 0.25}


# -- mistakes fail fast ----------------------------------------------------------------------

def test_an_evaluator_that_cannot_take_the_example_is_refused_before_any_call():
    calls = []

    def evaluate(candidate):
        calls.append(candidate)
        return 1.0

    with pytest.raises(hn.EvaluatorSignatureError, match="dataset was given") as raised:
        hn.optimize_anything("@", evaluate, dataset=[1, 2], config=config())
    assert isinstance(raised.value, TypeError) and isinstance(raised.value, hn.HoningError)
    assert "def evaluate(candidate, example)" in str(raised.value)
    assert calls == []


def test_an_evaluator_that_needs_an_example_without_a_dataset_is_refused():
    with pytest.raises(hn.EvaluatorSignatureError, match="single-task mode"):
        hn.optimize_anything("@", lambda candidate, example: 1.0, config=config())


def test_raise_on_exception_reraises_the_users_own_exception():
    class Broken(Exception):
        pass

    def evaluate(candidate, example):
        raise Broken(f"cannot score {example}")

    with pytest.raises(Broken, match="cannot score"):
        hn.optimize_anything("@", evaluate, dataset=[1, 2], config=config(raise_on_exception=True))


def test_the_same_exception_on_every_seed_example_stops_the_run():
    calls = []

    def evaluate(candidate, example):
        calls.append(example)
        return example["missing"], {}  # a bug: the examples are ints

    with pytest.raises(hn.EvaluatorError, match="same exception on all 3 of its evaluations") as raised:
        hn.optimize_anything("@", evaluate, dataset=[1, 2, 3], config=config(max_metric_calls=50))
    assert "TypeError" in str(raised.value) and "return 0.0, {'error'" in str(raised.value)
    assert len(calls) == 3  # the seed only: no budget spent on proposals


def test_a_crashing_candidate_the_evaluator_reports_is_feedback():
    def evaluate(candidate, example):
        try:
            if candidate == "@":
                raise ZeroDivisionError("seed divides by zero")
            return at_score(candidate)
        except ZeroDivisionError as exc:
            return 0.0, {"error": str(exc)}

    result = hn.optimize_anything("@", evaluate, dataset=[1, 2], config=config())
    assert result.best_score > 0


def test_an_exception_raised_inside_candidate_code_is_feedback():
    def evaluate(candidate):
        namespace: dict = {}
        exec(compile(f"def f():\n    return {candidate!r}.count('@') / (len({candidate!r}) - 1)", "<candidate>",
                     "exec"), namespace)
        return namespace["f"]()

    result = hn.optimize_anything("@", evaluate, config=config(max_metric_calls=4))
    assert result.val_scores[0] == 0.0  # the seed failed (ZeroDivisionError in <candidate>) ...
    assert result.best_score > 0  # ... and the run went on


def test_seed_failures_that_differ_per_example_are_feedback():
    def evaluate(candidate, example):
        if candidate == "@":
            raise ValueError(f"example {example} is hard for this seed")
        return at_score(candidate)

    result = hn.optimize_anything("@", evaluate, dataset=[1, 2], config=config())
    assert result.best_score > 0


def _process_evaluator(candidate, example, opt_state):
    """Module level, so a worker process can import it."""
    best = opt_state.best_example_evals[0]["score"] if opt_state.best_example_evals else None
    return min(candidate.count("@"), 10) / 10, {"best_before": best}


def test_opt_state_reaches_evaluators_in_worker_processes():
    recorder = Recorder()
    cfg = config(max_metric_calls=6, executor="process", max_workers=1, parallel=True).replace(callbacks=[recorder])
    hn.optimize_anything("@", _process_evaluator, dataset=[1], config=cfg)
    befores = [e.side_info["best_before"] for e in recorder.evaluations]
    assert befores[0] is None and befores[1:] and all(b is not None for b in befores[1:])
    assert befores[1:] == sorted(befores[1:])  # each call sees the best score so far, which only grows
