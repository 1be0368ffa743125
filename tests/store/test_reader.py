"""RunReader: incremental refreshes agree with a fresh open, and large runs stay listable."""

from __future__ import annotations

import random
import sys
from pathlib import Path

from honing.store import RunReader, SQLiteStore
from honing.ui._pagedata import MAX_LISTED, candidate_detail, overview
from tests.store._helpers import candidate, evaluation, header, proposal

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))


def _views(reader: RunReader) -> dict:
    return {
        "pool": reader.pool, "best": reader.best_id(), "calls": reader.metric_calls, "pending": reader.pending,
        "means": {c: reader.val_mean(c) for c in reader.candidate_info}, "keys": reader.val_keys,
        "trajectory": reader.trajectory(), "front": sorted(reader.front().members()),
        "proposals": [(p.id, p.accepted, p.child_id) for p in reader.proposals],
    }


def test_a_refreshing_reader_sees_what_a_fresh_one_sees(tmp_path):
    rng = random.Random(7)
    store = SQLiteStore.for_run_dir(tmp_path / "run")
    store.open(header(), {"config": {"engine": {"frontier_type": "instance"}}})
    live = None
    store.add_candidate(candidate(0))
    for cid in range(1, 40):
        parent = rng.randrange(cid)
        store.add_candidate(candidate(cid, "@" * cid, parents=(parent,), origin="reflection", proposal_id=cid - 1))
        for key in ("t1", "t2"):
            store.start_evaluations([(cid, key)])
            store.add_evaluation(evaluation(cid, key, rng.random(), split="train"))
        store.add_proposal(proposal(cid - 1, child=cid, accepted=rng.random() < 0.5))
        for key in ("v1", "v2", "v3"):
            store.start_evaluations([(cid, key)])
            if rng.random() < 0.9:  # some stay pending, as a crash leaves them
                store.add_evaluation(evaluation(cid, key, rng.random()))
        if live is None:
            live = RunReader(tmp_path / "run")
        elif cid % 5 == 0:
            store.flush()  # nothing may land between the two reads (evaluations are committed in the background)
            live.refresh()
            with RunReader(tmp_path / "run") as fresh:
                assert _views(live) == _views(fresh)
    live.close()
    store.close()


def test_a_large_run_lists_a_bounded_page_and_the_best_first(tmp_path):
    from _large_store import Shape, make_large_store

    stats = make_large_store(tmp_path / "run", Shape(candidates=MAX_LISTED + 300, evaluations=12_000, val_size=10),
                             log=None)
    with RunReader(tmp_path / "run") as reader:
        assert len(reader.candidate_info) == stats["candidates"]
        assert reader.metric_calls == stats["evaluations"]
        assert len(reader.pool) == stats["pool"]
        data = overview(reader)
        listed = [c["id"] for c in data["candidates"]]
        assert len(listed) == MAX_LISTED and data["run"]["candidates_total"] == stats["candidates"]
        assert data["best"]["id"] in listed and set(data["frontier"]["members"]) <= set(listed)
        unlisted = min(set(reader.candidate_info) - set(listed))
        detail = candidate_detail(reader, unlisted, max_evaluations=2)  # every candidate is still reachable
        assert detail is not None and len(detail["evaluations"]) <= 2
        assert detail["evaluations_total"] >= len(detail["evaluations"])
    from honing.ui import build_report
    from honing.ui._cli import REPORT_DETAILS

    report = build_report(str(tmp_path / "run"), tmp_path / "report.html")
    page = report.read_text()
    assert page.count('"components":{"candidate"') <= REPORT_DETAILS + 1  # the details, plus the best's text
    assert report.stat().st_size < 8 * 2**20


def test_the_viewer_and_a_resumed_run_agree_on_the_pool(tmp_path):
    """A child that won its minibatch but lost its validation race is in neither's pool."""
    import honing as hn
    from honing._records import AdmissionRecord, CandidateRecord, ProposalRecord
    from honing._replay import replay
    from honing._scoreboard import ScoreBoard
    from honing.store import RunReader, SQLiteStore
    from tests.store._helpers import evaluation, header

    store = SQLiteStore.for_run_dir(tmp_path / "run")
    store.open(header(), {})
    for cid in range(4):
        store.add_candidate(CandidateRecord(id=cid, components={"candidate": "@" * (cid + 1)},
                                            parents=(0,) if cid else (), origin="reflection" if cid else "seed",
                                            proposal_id=cid - 1 if cid else None))
        store.add_evaluation(evaluation(cid, "k", cid / 4))
    for pid, child, verdict in ((0, 1, True), (1, 2, False), (2, 3, None)):
        store.add_proposal(ProposalRecord(id=pid, kind="reflection", parent_ids=(0,), components=("candidate",),
                                          prompt=None, reply="r", child_id=child, accepted=True, reason="won"))
        if verdict is not None:
            store.add_admission(AdmissionRecord(candidate_id=child, proposal_id=pid, admitted=verdict, reason="r"))
    store.close()
    board = ScoreBoard(["k"], "hybrid")
    state = replay(board, SQLiteStore.for_run_dir(tmp_path / "run").open(header(), {}))
    assert sorted(board.pool) == [0, 1]  # 2 lost its race; 3 is still racing
    assert state.racing == [3]
    with RunReader(tmp_path / "run") as reader:
        assert reader.pool == [0, 1]
    assert hn.HoningError  # the package imported cleanly alongside


def test_the_reader_weighs_duplicated_validation_examples_as_the_engine_does(tmp_path):
    """valset A, A, A, B: the child is better on A only, which counts three times; the viewers agree it is best."""
    import honing as hn
    from tests.conftest import ScriptedLM, fenced

    def evaluate(candidate, example):
        if candidate == "child":
            return {"T": 0.9, "A": 0.7, "B": 0.0}[example]
        return {"T": 0.1, "A": 0.5, "B": 0.5}[example]

    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=12, max_candidate_proposals=1, parallel=False,
                                              run_dir=str(tmp_path / "run")),
                       reflection=hn.ReflectionConfig(reflection_lm=ScriptedLM(lambda prompt: fenced("child")),
                                                      reflection_minibatch_size=1))
    result = hn.optimize_anything("seed", evaluate, dataset=["T"], valset=["A", "A", "A", "B"], config=config)
    assert result.best_candidate == "child"
    assert result.best_score == (3 * 0.7 + 0.0) / 4  # unweighted it would be 0.35, below the seed's 0.5

    reader = RunReader(tmp_path / "run")
    best = reader.best_id()
    assert best is not None and list(reader.candidates[best].components.values()) == ["child"]
    assert reader.val_mean(best) == result.best_score


def test_weights_from_a_damaged_or_hostile_session_row_are_ignored():
    from honing.store._views import RunViews

    views = RunViews("instance")
    views.add_evaluations([(1, 0, "A", "val", 1.0, None, False), (2, 0, "B", "val", 0.0, None, False)])
    for bad in (None, "A", ["A"], {"A": "3"}, {"A": True}, {"A": 0}, {"A": -2}, {"A": 2**40}, {7: 3}):
        views.set_weights(bad)
        assert views.val_mean(0) == 0.5
    views.set_weights({"A": 3})
    assert views.val_mean(0) == 0.75
