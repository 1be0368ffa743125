"""Nothing in flight can hold a run: stuck evaluators and LM calls end at their time limits or at a stop.

Each test blocks a call on an event that is set when the test ends, so the
abandoned daemon threads finish instead of outliving the test; the conftest's
limit turns a hang into a failure.
"""

from __future__ import annotations

import threading
import time

import pytest

import honing as hn
from honing.store import RunReader
from tests.conftest import ScriptedLM, fenced
from tests.helpers import growing_lm

DATASET = ["a", "b", "c"]


@pytest.fixture
def release():
    """An event the stuck calls wait on; set when the test ends so their threads finish."""
    event = threading.Event()
    yield event
    event.set()


class StuckOn:
    """Scores by the number of '@'; the evaluation of a candidate with ``count`` '@' on ``example`` never returns."""

    def __init__(self, release: threading.Event, count: int, example: str = "b") -> None:
        self.release = release
        self.count = count
        self.example = example
        self.calls: list[tuple[str, str]] = []
        self.stuck = threading.Event()

    def __call__(self, candidate: str, example: str):
        self.calls.append((candidate, example))
        hn.log(f"started {example} with {candidate.count('@')} @")
        if candidate.count("@") == self.count and example == self.example and not self.release.is_set():
            self.stuck.set()
            self.release.wait(600)
        return min(candidate.count("@"), 10) / 10, {"count": candidate.count("@")}


def _config(run_dir, lm=None, **engine) -> hn.Config:
    engine.setdefault("max_metric_calls", 30)
    engine.setdefault("max_workers", 2)
    return hn.Config(engine=hn.EngineConfig(run_dir=str(run_dir), **engine),
                     reflection=hn.ReflectionConfig(reflection_lm=lm or growing_lm()))


def _run(evaluator, config):
    return hn.optimize_anything("@", evaluator, dataset=DATASET, objective="more @", config=config)


@pytest.mark.limit_s(60)
def test_an_evaluation_past_its_time_limit_is_a_failure_with_its_partial_logs(tmp_path, release):
    evaluator = StuckOn(release, count=2)
    started = time.monotonic()
    result = _run(evaluator, _config(tmp_path / "run", evaluation_timeout_s=0.5))
    assert time.monotonic() - started < 30
    assert result.stop_reason == "budget exhausted" and result.total_metric_calls == 30
    assert result.best_score == 1.0  # the run went on past the stuck evaluation
    with RunReader(tmp_path / "run") as reader:
        timed_out = [e for cid in reader.candidates for e in reader.evaluation_details(cid) if e.error]
        assert reader.metric_calls == 30 and not reader.pending
    assert len(timed_out) == 1
    assert "evaluation_timeout_s=0.5" in timed_out[0].error and timed_out[0].score == 0.0
    assert "started b with 2 @" in timed_out[0].side_info["log"]  # what it logged before it got stuck
    # While it was stuck, proposals that found nothing new waited for a result instead of asking the LM
    # again and again (thousands of proposals before).
    assert len(result.proposals) < 40


@pytest.mark.limit_s(60)
@pytest.mark.parametrize("soft_stop_first", [False, True], ids=["timeout", "soft-stop-then-timeout"])
def test_timeout_s_ends_a_run_whose_evaluator_never_returns(tmp_path, release, soft_stop_first):
    """No evaluation_timeout_s: before, the run waited for the stuck evaluation forever.

    A soft stop (here a user stopper; a proposal limit alike) lets the proposals in flight finish, so it
    waits for the stuck evaluation too; the time limit still ends the run.
    """
    evaluator = StuckOn(release, count=3)
    config = _config(tmp_path / "run", timeout_s=1.5, stop_grace_s=0.5)
    if soft_stop_first:
        config = config.replace(stop_callbacks=[lambda status: evaluator.stuck.is_set()])
    started = time.monotonic()
    result = _run(evaluator, config)
    elapsed = time.monotonic() - started
    assert elapsed < 1.5 + 0.5 + 3, elapsed
    assert result.stop_reason == "timeout"
    assert result.best_score == pytest.approx(0.2)  # the best found before the stuck evaluation
    with RunReader(tmp_path / "run") as reader:
        assert reader.metric_calls == result.total_metric_calls  # the abandoned evaluation is not counted
        stuck = [(cid, key) for cid, key in reader.pending if reader.candidates[cid].components["candidate"] == "@@@"]
        assert len(stuck) == 1

    # Resumed, the evaluation cut short is run again (it was never scored) and the run finishes its budget.
    release.set()
    resumed = _run(evaluator, config.replace(engine=config.engine.replace(timeout_s=None), stop_callbacks=[]))
    assert resumed.stop_reason == "budget exhausted" and resumed.total_metric_calls == 30
    assert evaluator.calls.count(("@@@", "b")) == 2
    with RunReader(tmp_path / "run") as reader:
        assert not reader.pending


class StuckLM:
    """Writes one more '@'; its ``stuck_call``-th call never returns."""

    def __init__(self, release: threading.Event, stuck_call: int) -> None:
        self.release = release
        self.stuck_call = stuck_call
        self.calls = 0
        self.lock = threading.Lock()
        self.inner = growing_lm()

    def complete(self, messages):
        with self.lock:
            self.calls += 1
            call = self.calls
        if call == self.stuck_call:
            self.release.wait(600)
        return self.inner.complete(messages)


@pytest.mark.limit_s(60)
def test_an_lm_call_past_lm_timeout_s_fails_that_proposal_and_the_run_goes_on(tmp_path, release):
    config = _config(tmp_path / "run", parallel=False)
    config = config.replace(reflection=config.reflection.replace(reflection_lm=StuckLM(release, 2), lm_timeout_s=0.5))
    started = time.monotonic()
    result = _run(StuckOn(release, count=-1), config)
    assert time.monotonic() - started < 20
    assert result.stop_reason == "budget exhausted" and result.total_metric_calls == 30
    failed = [p for p in result.proposals if p.error]
    assert len(failed) == 1 and "did not finish within 0.5 s" in failed[0].error


@pytest.mark.limit_s(60)
def test_timeout_s_ends_a_run_waiting_for_the_lm(tmp_path, release):
    config = _config(tmp_path / "run", timeout_s=1.0, max_proposals_in_flight=2)
    config = config.replace(reflection=config.reflection.replace(reflection_lm=StuckLM(release, 2)))
    started = time.monotonic()
    result = _run(StuckOn(release, count=-1), config)
    assert time.monotonic() - started < 1.0 + 3
    assert result.stop_reason == "timeout" and result.best_score is not None


@pytest.mark.limit_s(60)
def test_an_lm_that_always_hangs_fails_the_run_with_a_clear_error(tmp_path, release):
    lm = ScriptedLM(lambda prompt: (release.wait(600), fenced("@@"))[1])
    config = _config(tmp_path / "run", parallel=False)
    config = config.replace(reflection=config.reflection.replace(reflection_lm=lm, lm_timeout_s=0.2))
    started = time.monotonic()
    with pytest.raises(hn.LMError, match="did not finish within 0.2 s"):
        _run(StuckOn(release, count=-1), config)
    assert time.monotonic() - started < 10
