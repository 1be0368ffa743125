"""The Store contract, run against every implementation (MemoryStore and SQLiteStore)."""

from __future__ import annotations

import threading

import pytest

from honing.store import MemoryStore, SQLiteStore, StoreMismatchError
from tests.store._helpers import candidate, evaluation, header, proposal


class _Memory:
    def __init__(self, tmp_path):
        self.store = MemoryStore()

    def reopen(self):
        return self.store


class _SQLite:
    def __init__(self, tmp_path):
        self.run_dir = tmp_path / "run"
        self.store = SQLiteStore.for_run_dir(self.run_dir)

    def reopen(self):
        """A fresh object on the same file: what a new process resuming the run gets."""
        self.store.close()
        self.store = SQLiteStore.for_run_dir(self.run_dir)
        return self.store


@pytest.fixture(params=[_Memory, _SQLite], ids=["memory", "sqlite"])
def kind(request, tmp_path):
    made = request.param(tmp_path)
    yield made
    made.store.close()


def test_a_new_store_is_empty_and_records_the_session(kind):
    run = kind.store.open(header(), {"config": {"engine": {"max_metric_calls": 5}}, "started_at": 1.0})
    assert run.is_new
    assert run.header == header()
    assert run.sessions == [{"config": {"engine": {"max_metric_calls": 5}}, "started_at": 1.0}]
    assert run.started == []


def test_records_come_back_equal_and_in_order(kind):
    store = kind.store
    store.open(header(), {"n": 1})
    written_c = [candidate(0), candidate(1, "@@", parents=(0,), origin="reflection", proposal_id=0)]
    written_e = [evaluation(0, "k2", 0.1), evaluation(0, "k1", 0.2), evaluation(1, "k1", 0.9, cached=True)]
    written_p = [proposal(0), proposal(1, child=None, accepted=False)]
    for c in written_c:
        store.add_candidate(c)
    for e in written_e:
        store.start_evaluations([(e.candidate_id, e.example_key)])
        store.add_evaluation(e)
    for p in written_p:
        store.add_proposal(p)
    run = kind.reopen().open(header(), {"n": 2})
    assert not run.is_new
    assert run.candidates == written_c
    assert run.evaluations == written_e
    assert run.proposals == written_p
    assert run.started == []
    assert run.sessions == [{"n": 1}, {"n": 2}]


def test_started_but_unfinished_evaluations_are_reported(kind):
    store = kind.store
    store.open(header(), {})
    store.add_candidate(candidate(0))
    store.start_evaluations([(0, "done")])
    store.add_evaluation(evaluation(0, "done"))
    store.start_evaluations([(0, "lost-1"), (0, "lost-2")])
    store.start_evaluations([(0, "lost-1")])  # tried again in a later session, cut short again
    run = kind.reopen().open(header(), {})
    assert run.started == [(0, "lost-1"), (0, "lost-2"), (0, "lost-1")]  # one entry per attempt


def test_admissions_come_back_in_order(kind):
    from honing._records import AdmissionRecord

    store = kind.store
    store.open(header(), {})
    written = [AdmissionRecord(candidate_id=1, proposal_id=0, admitted=True, reason="better", val_evaluated=3,
                               created_at=1.0),
               AdmissionRecord(candidate_id=2, proposal_id=1, admitted=False, reason="raced out", val_evaluated=1,
                               created_at=2.0)]
    for record in written:
        store.add_admission(record)
    assert kind.reopen().open(header(), {}).admissions == written


def test_another_run_is_refused(kind):
    kind.store.open(header(), {})
    kind.store.add_candidate(candidate(0))
    with pytest.raises(StoreMismatchError):
        kind.reopen().open(header("fp-other", objective="less @"), {})


def test_same_run_with_a_new_background_is_accepted(kind):
    kind.store.open(header(), {})
    changed = header().__class__(**{**header().__dict__, "background": "new background"})
    run = kind.reopen().open(changed, {"second": True})
    assert run.header == changed
    assert len(run.sessions) == 2


def test_concurrent_writes_all_land(kind):
    store = kind.store
    store.open(header(), {})
    store.add_candidate(candidate(0))

    def work(worker: int) -> None:
        for i in range(40):
            key = f"w{worker}-{i}"
            store.start_evaluations([(0, key)])
            store.add_evaluation(evaluation(0, key, score=i / 40))

    threads = [threading.Thread(target=work, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run = kind.reopen().open(header(), {})
    assert len(run.evaluations) == 240
    assert {e.example_key for e in run.evaluations} == {f"w{w}-{i}" for w in range(6) for i in range(40)}
    assert run.started == []
