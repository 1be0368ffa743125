"""``StoreContract``: the tests every ``honing.Store`` must pass, for the built-in stores and for yours.

    from honing.testing import StoreContract

    class TestMyStore(StoreContract):
        def make_store(self, location):
            return MyStore(location)      # a store kept at ``location`` (a fresh directory path)

pytest collects the subclass and runs every ``test_*`` method on it. Calling
``make_store`` again with the same ``location`` must give a store that sees
what the first one wrote, as a resumed run in a new process would (a store
that lives in memory returns the same object). Each test closes what it
opened. pytest is needed (``pip install pytest``).

What a contract test cannot show -- that a record survives the process being
killed right after its write returned -- a durable store should prove with a
crash test of its own (``tests/store/test_store_crash.py`` does for SQLite).
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

import pytest

from .._records import AdmissionRecord, CandidateRecord, EvaluationRecord, LMUsage, Origin, ProposalRecord
from ..store import EvaluatorChangedError, ReadBackStore, RunHeader, Store, StoreMismatchError


def header(fingerprint: str = "fp-1", objective: str | None = "more @", evaluator: str | None = "mod.evaluate",
           source: str | None = "0123456789abcdef") -> RunHeader:
    return RunHeader(fingerprint=fingerprint, objective=objective, background="bg",
                     seed_components={"candidate": "@"}, candidate_is_str=True, evaluator=evaluator,
                     evaluator_source=source)


def candidate(cid: int, text: str = "@", parents: tuple[int, ...] = (), origin: Origin = "seed",
              proposal_id: int | None = None) -> CandidateRecord:
    return CandidateRecord(id=cid, components={"candidate": text}, parents=parents, origin=origin,
                           proposal_id=proposal_id, created_at=1_700_000_000.0 + cid)


def evaluation(cid: int, key: str, score: float = 0.5, **fields: Any) -> EvaluationRecord:
    fields.setdefault("side_info", {"hint": "more @", "count": cid})
    return EvaluationRecord(candidate_id=cid, example_key=key, split=fields.pop("split", "val"), score=score,
                            created_at=1_700_000_000.0, **fields)


def proposal(pid: int, child: int | None = 1, accepted: bool = True) -> ProposalRecord:
    return ProposalRecord(
        id=pid, kind="reflection", parent_ids=(0,), components=("candidate",),
        prompt=[{"role": "user", "content": "improve: @"}], reply="```\n@@\n```", child_id=child,
        accepted=accepted, reason="improved on the minibatch", parent_score=0.1, child_score=0.2,
        minibatch_keys=("k1", "k2"), usage=LMUsage(prompt_tokens=10, completion_tokens=5, cost_usd=0.001,
                                                    duration_s=0.05, model="scripted"),
        created_at=1_700_000_000.0,
    )


class StoreContract:
    """The ``Store`` protocol's guarantees as tests (see ``honing.store.Store``)."""

    def make_store(self, location: Path) -> Store:
        raise NotImplementedError("implement make_store(location) -> your Store")

    # -- helpers -----------------------------------------------------------------
    def _reopened(self, location: Path, store: Store) -> Store:
        """What a new process resuming the run gets."""
        store.close()
        return self.make_store(location)

    # -- open ----------------------------------------------------------------------
    def test_a_new_store_is_empty_and_records_the_session(self, tmp_path: Path) -> None:
        store = self.make_store(tmp_path / "store")
        run = store.open(header(), {"config": {"engine": {"max_metric_calls": 5}}, "started_at": 1.0})
        assert run.is_new and run.header == header() and run.started == []
        assert run.sessions == [{"config": {"engine": {"max_metric_calls": 5}}, "started_at": 1.0}]
        store.close()

    def test_records_come_back_equal_and_in_write_order(self, tmp_path: Path) -> None:
        store = self.make_store(tmp_path / "store")
        store.open(header(), {"n": 1})
        written_c = [candidate(0), candidate(1, "@@", parents=(0,), origin="reflection", proposal_id=0)]
        written_e = [evaluation(0, "k2", 0.1), evaluation(0, "k1", 0.2), evaluation(1, "k1", 0.9),
                     evaluation(1, "k3", 0.3, split="train", error="boom", output=("out", [1]))]
        written_p = [proposal(0), proposal(1, child=None, accepted=False)]
        for c in written_c:
            store.add_candidate(c)
        for e in written_e:
            store.start_evaluations([(e.candidate_id, e.example_key)])
            store.add_evaluation(e)
        for p in written_p:
            store.add_proposal(p)
        store = self._reopened(tmp_path / "store", store)
        run = store.open(header(), {"n": 2})
        assert not run.is_new
        assert (run.candidates, run.evaluations, run.proposals) == (written_c, written_e, written_p)
        assert run.started == [] and run.sessions == [{"n": 1}, {"n": 2}]
        store.close()

    def test_started_but_unfinished_evaluations_are_reported(self, tmp_path: Path) -> None:
        store = self.make_store(tmp_path / "store")
        store.open(header(), {})
        store.add_candidate(candidate(0))
        store.start_evaluations([(0, "done")])
        store.add_evaluation(evaluation(0, "done"))
        store.start_evaluations([(0, "lost-1"), (0, "lost-2")])
        store = self._reopened(tmp_path / "store", store)
        assert store.open(header(), {}).started == [(0, "lost-1"), (0, "lost-2")]
        store.start_evaluations([(0, "lost-1")])  # tried again, cut short again
        store = self._reopened(tmp_path / "store", store)
        assert store.open(header(), {}).started == [(0, "lost-1"), (0, "lost-2"), (0, "lost-1")]  # per attempt
        store.close()

    def test_admissions_come_back_in_order(self, tmp_path: Path) -> None:
        store = self.make_store(tmp_path / "store")
        store.open(header(), {})
        written = [AdmissionRecord(candidate_id=1, proposal_id=0, admitted=True, reason="better", val_evaluated=3,
                                   created_at=1.0),
                   AdmissionRecord(candidate_id=2, proposal_id=1, admitted=False, reason="raced out",
                                   val_evaluated=1, created_at=2.0)]
        for record in written:
            store.add_admission(record)
        store = self._reopened(tmp_path / "store", store)
        assert store.open(header(), {}).admissions == written
        store.close()

    def test_another_run_is_refused_and_nothing_is_written(self, tmp_path: Path) -> None:
        store = self.make_store(tmp_path / "store")
        store.open(header(), {"first": True})
        store.add_candidate(candidate(0))
        store = self._reopened(tmp_path / "store", store)
        with pytest.raises(StoreMismatchError, match="objective"):
            store.open(header("fp-other", objective="less @"), {"second": True})
        store = self._reopened(tmp_path / "store", store)
        assert store.open(header(), {"third": True}).sessions == [{"first": True}, {"third": True}]
        store.close()

    def test_the_same_run_with_a_new_background_is_resumed(self, tmp_path: Path) -> None:
        store = self.make_store(tmp_path / "store")
        store.open(header(), {})
        changed = dataclasses.replace(header(), background="new background")
        store = self._reopened(tmp_path / "store", store)
        run = store.open(changed, {"second": True})
        assert run.header == changed and len(run.sessions) == 2
        store.close()

    def test_a_changed_evaluator_is_refused_unless_accepted(self, tmp_path: Path) -> None:
        store = self.make_store(tmp_path / "store")
        store.open(header(), {})
        store = self._reopened(tmp_path / "store", store)
        with pytest.raises(EvaluatorChangedError, match="evaluator_changed_ok=True"):
            store.open(header(source="fedcba9876543210"), {})
        store = self._reopened(tmp_path / "store", store)
        with pytest.raises(EvaluatorChangedError):
            store.open(header(evaluator="mod.other"), {})
        store = self._reopened(tmp_path / "store", store)
        store.open(header(source="fedcba9876543210"), {}, evaluator_changed_ok=True)
        store = self._reopened(tmp_path / "store", store)
        store.open(header(source="fedcba9876543210"), {})  # the accepted identity is the stored one now
        store.close()

    def test_an_evaluator_without_readable_source_is_compared_by_name(self, tmp_path: Path) -> None:
        store = self.make_store(tmp_path / "store")
        store.open(header(source=None), {})
        store = self._reopened(tmp_path / "store", store)
        store.open(header(source="0123456789abcdef"), {})
        store.close()

    # -- writes --------------------------------------------------------------------
    def test_concurrent_writes_all_land(self, tmp_path: Path) -> None:
        store = self.make_store(tmp_path / "store")
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
        store = self._reopened(tmp_path / "store", store)
        run = store.open(header(), {})
        assert len(run.evaluations) == 240 and run.started == []
        assert {e.example_key for e in run.evaluations} == {f"w{w}-{i}" for w in range(6) for i in range(40)}
        store.close()

    def test_any_side_info_value_is_stored_without_raising(self, tmp_path: Path) -> None:
        loop: dict[str, Any] = {"name": "loop"}
        loop["self"] = loop

        class Unpicklable:
            def __reduce__(self) -> Any:
                raise TypeError("no")

        store = self.make_store(tmp_path / "store")
        store.open(header(), {})
        store.add_evaluation(evaluation(0, "k", side_info={"cycle": loop, "surrogate": "\udc80", "obj": Unpicklable(),
                                                           "big": "x" * 200_000}, output=b"\x00" * 5000))
        store.add_proposal(dataclasses.replace(proposal(0), reply="\udcff", error="e\ud800"))
        store = self._reopened(tmp_path / "store", store)
        run = store.open(header(), {})
        back = run.evaluations[0]
        assert back.side_info["surrogate"] == "\udc80" and back.side_info["big"] == "x" * 200_000
        assert back.output == b"\x00" * 5000
        assert back.side_info["cycle"]["self"]["name"] == "loop"
        assert run.proposals[0].reply == "\udcff" and run.proposals[0].error == "e\ud800"
        store.close()

    def test_a_read_back_store_recalls_candidates_and_this_sessions_proposals(self, tmp_path: Path) -> None:
        """Only for a ``ReadBackStore``: what the engine forgot comes back equal, while and after writing."""
        store = self.make_store(tmp_path / "store")
        if not isinstance(store, ReadBackStore):
            pytest.skip("not a ReadBackStore: the engine keeps this store's records in memory")
        store.open(header(), {})
        earlier = proposal(0)
        store.add_proposal(earlier)
        store = self._reopened(tmp_path / "store", store)
        assert isinstance(store, ReadBackStore)
        store.open(header(), {})
        child = candidate(1, "@@", parents=(0,), origin="reflection", proposal_id=1)
        evals = [evaluation(1, "k1", 0.3, split="train", output={"o": 1}), evaluation(1, "k2", 0.4, error="boom")]
        store.add_candidate(candidate(0))
        store.add_candidate(child)
        store.add_evaluation(evaluation(0, "k1"))
        for record in evals:
            store.add_evaluation(record)  # may be queued: recall must still see it
        assert store.recall(1) == (child, evals)
        assert store.recall(7) is None
        written = [proposal(1), proposal(2, child=None, accepted=False)]
        for written_proposal in written:
            store.add_proposal(written_proposal)
        log = store.proposal_log()
        store.close()
        assert list(log) == written and len(log) == 2 and log[-1] == written[-1]  # this session's, after close

    def test_close_is_idempotent_and_the_store_can_be_opened_again(self, tmp_path: Path) -> None:
        store = self.make_store(tmp_path / "store")
        store.open(header(), {})
        store.close()
        store.close()
        store = self.make_store(tmp_path / "store")
        assert len(store.open(header(), {}).sessions) == 2
        store.close()

    def test_open_accepts_takeover(self, tmp_path: Path) -> None:
        store = self.make_store(tmp_path / "store")
        assert store.open(header(), {}, takeover=True).is_new
        store.close()
