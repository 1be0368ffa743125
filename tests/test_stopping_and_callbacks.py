"""Stop conditions and callbacks."""

from __future__ import annotations

import time

import pytest

import honing as hn
from tests.conftest import ScriptedLM, fenced
from tests.helpers import CountingEvaluator, growing_lm


def run(lm=None, evaluator=None, config_kwargs=None, **engine):
    engine.setdefault("max_metric_calls", 1000)
    config = hn.Config(engine=hn.EngineConfig(**engine),
                       reflection=hn.ReflectionConfig(reflection_lm=lm or growing_lm()), **(config_kwargs or {}))
    return hn.optimize_anything("@", evaluator or CountingEvaluator(cap=1000), config=config)


def test_max_candidate_proposals_is_exact_even_with_proposals_in_flight():
    result = run(max_candidate_proposals=7, max_workers=4, max_proposals_in_flight=8)
    assert len([p for p in result.proposals if p.kind == "reflection"]) == 7
    assert result.stop_reason == "max_candidate_proposals"


def test_timeout():
    slow = ScriptedLM(lambda p: (time.sleep(0.05), fenced("@" * (p.count("@") + 1)))[1])
    started = time.monotonic()
    result = run(lm=slow, timeout_s=0.5, parallel=False)
    assert time.monotonic() - started < 3
    assert result.stop_reason == "timeout"


def test_score_threshold():
    result = run(evaluator=CountingEvaluator(cap=10), score_threshold=0.5, parallel=False)
    assert result.best_score >= 0.5
    assert result.stop_reason == "score_threshold"
    assert result.best_score < 0.8


def test_no_improvement_for_n_proposals():
    flat = ScriptedLM(lambda p: fenced("@" * (p.count("@") % 3 + 1) + "x" * len(p) ))
    result = run(lm=flat, evaluator=lambda c: 0.5, max_proposals_without_improvement=4, parallel=False)
    assert result.stop_reason == "no_improvement"
    assert len(result.proposals) == 4


def test_stop_file(tmp_path):
    stop = tmp_path / "STOP"

    class TouchAfterThree:
        def on_proposal(self, record):
            if record.id >= 2:
                stop.write_text("stop")

    result = run(stop_file=str(stop), parallel=False, config_kwargs={"callbacks": [TouchAfterThree()]})
    assert result.stop_reason == "stop_file"
    assert len(result.proposals) == 3


def test_cost_ceiling():
    result = run(lm=growing_lm(cost_usd=0.25), max_cost_usd=1.0, parallel=False)
    assert result.stop_reason == "max_cost_usd"
    assert result.cost_usd == pytest.approx(1.0)


def test_custom_stopper_sees_the_status():
    seen = []

    def stop_after_five_calls(status: hn.RunStatus) -> bool:
        seen.append(status)
        return status.metric_calls >= 5

    result = run(parallel=False, config_kwargs={"stop_callbacks": stop_after_five_calls})
    assert result.total_metric_calls >= 5
    assert seen and all(isinstance(s, hn.RunStatus) for s in seen)


def test_ctrl_c_stops_cleanly_and_returns_the_best_so_far():
    class Interrupt:
        def on_proposal(self, record):
            if record.id == 3:
                raise KeyboardInterrupt

    result = run(parallel=False, config_kwargs={"callbacks": [Interrupt()]})
    assert result.stop_reason == "interrupted"
    assert result.best_score is not None and result.best_score > 0


def test_callbacks_receive_every_event_kind():
    events = []

    class Recorder:
        def __getattr__(self, name):
            if name.startswith("on_"):
                return lambda payload: events.append(name)
            raise AttributeError(name)

    run(max_metric_calls=6, parallel=False, config_kwargs={"callbacks": [Recorder()]})
    for name in ("on_start", "on_evaluation", "on_proposal", "on_accept", "on_frontier_change", "on_end"):
        assert name in events


def test_a_raising_callback_stops_the_run_and_is_reported():
    class Broken:
        def on_evaluation(self, record):
            raise ValueError("callback bug")

    with pytest.raises(hn.CallbackError, match="callback bug"):
        run(max_metric_calls=10, parallel=False, config_kwargs={"callbacks": [Broken()]})


def test_a_callback_without_hooks_is_rejected():
    with pytest.raises(TypeError, match="none of the methods"):
        run(config_kwargs={"callbacks": [object()]})


def test_proposals_waiting_for_a_single_slot_lm_give_up_when_the_run_stops():
    class OneAtATime(ScriptedLM):
        max_concurrency = 1

    slow = OneAtATime(lambda p: (time.sleep(0.4), fenced("@" * (p.count("@") + 1)))[1])
    started = time.monotonic()
    result = run(lm=slow, timeout_s=0.3, max_proposals_in_flight=6, max_workers=2)
    assert time.monotonic() - started < 2.0  # not 6 x 0.4 s of queued LM calls
    assert len(slow.prompts) <= 2  # the queued proposals never reached the LM
    assert sum(1 for p in result.proposals if p.reply is not None) <= 2
