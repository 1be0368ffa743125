"""What a run keeps in memory: the live search, not its history (that is in the run store).

A child that lost its minibatch is retired from the board (one that won it is
kept, even if it loses its race: children built on it may enter the pool);
its text still deduplicates, and if the LM writes it again its stored
evaluations come back, so no (candidate, example) pair is ever scored twice.
``Result.proposals`` reads the proposals back from the store.
"""

from __future__ import annotations

import base64
import itertools
import json
import pickle
import shutil
import threading
from collections import Counter

import pytest

import honing as hn
from honing._engine import Engine
from honing._scoreboard import ScoreBoard
from honing.store import MemoryStore, StoreError
from tests.conftest import ScriptedLM, fenced
from tests.helpers import CountingEvaluator

DATASET = ["a", "b", "c", "d", "e", "f"]


def cycling_lm(texts: list[str]) -> ScriptedLM:
    """Replies with each text in turn, forever (so every text is written again and again)."""
    replies = itertools.cycle(texts)
    lock = threading.Lock()

    def reply(prompt: str) -> str:
        with lock:
            return fenced(next(replies))

    return ScriptedLM(reply)


def scored_by_example(evaluator: CountingEvaluator):
    def evaluate(candidate, example):
        evaluator(candidate, example)
        return candidate.count("@") / 10, {"hint": "more @ is better", "example": example}

    return evaluate


def config(lm, **engine) -> hn.Config:
    engine.setdefault("max_metric_calls", 60)
    return hn.Config(engine=hn.EngineConfig(**engine), reflection=hn.ReflectionConfig(reflection_lm=lm))


@pytest.fixture
def board_sizes(monkeypatch):
    """(candidates on the board, pool size) after each proposal is over."""
    sizes: list[tuple[int, int]] = []
    original = Engine._after_race

    def spy(self, record, admission):
        original(self, record, admission)
        sizes.append((self.board.candidate_count, self.board.pool_size))

    monkeypatch.setattr(Engine, "_after_race", spy)
    return sizes


@pytest.mark.parametrize("store", ["sqlite", "memory"])
def test_losers_leave_memory_and_a_rewritten_loser_reuses_its_stored_scores(board_sizes, store, tmp_path):
    evaluator = CountingEvaluator(with_example=True)
    # "x", "y" and "z" score 0 against the seed's 0.1: each loses, is retired, and is written again later,
    # when it must come back with the scores it already has.
    cfg = config(cycling_lm(["x", "y", "z"]), parallel=False, max_candidate_proposals=15, seed=1,
                 **({"run_dir": str(tmp_path / "run")} if store == "sqlite" else {}))
    if store == "memory":
        cfg = hn.Config(engine=cfg.engine, reflection=cfg.reflection, store=MemoryStore())
    result = hn.optimize_anything("@", scored_by_example(evaluator), dataset=DATASET, config=cfg)
    assert len(result.proposals) == 15
    assert max(Counter(evaluator.calls).values()) == 1  # no pair scored twice, across retire and recall
    assert {text for text, _ in evaluator.calls} == {"@", "x", "y", "z"}
    assert sum(text == "x" for text, _ in evaluator.calls) > 3  # "x" came back and was judged on new examples
    assert board_sizes and all(candidates == pool for candidates, pool in board_sizes)


def test_a_resumed_run_retires_what_the_stored_run_lost_and_still_never_rescores(board_sizes, tmp_path):
    evaluator = CountingEvaluator(with_example=True)
    run_dir = str(tmp_path / "run")
    results = []
    for proposals in (6, 12):
        cfg = config(cycling_lm(["x", "@@", "y"]), parallel=False, max_candidate_proposals=proposals,
                     run_dir=run_dir, seed=2)
        results.append(hn.optimize_anything("@", scored_by_example(evaluator), dataset=DATASET, config=cfg))
    first, result = results
    # each result holds its own session's proposals; max_candidate_proposals is the whole run's (6 + 6)
    assert len(first.proposals) == 6 and len(result.proposals) == 6
    assert {p.id for p in first.proposals}.isdisjoint(p.id for p in result.proposals)
    assert max(Counter(evaluator.calls).values()) == 1
    assert "@@" in result.candidates
    assert all(candidates == pool for candidates, pool in board_sizes)


def test_result_proposals_are_read_from_the_run_store(tmp_path):
    run_dir = tmp_path / "run"
    cfg = config(cycling_lm(["@@", "x", "@@@"]), parallel=False, max_candidate_proposals=5, run_dir=str(run_dir))
    result = hn.optimize_anything("@", scored_by_example(CountingEvaluator(with_example=True)), dataset=DATASET,
                                  config=cfg)
    proposals = result.proposals
    assert not isinstance(proposals, list) and len(proposals) == 5
    as_list = list(proposals)
    assert proposals == as_list and as_list == proposals
    assert [p.id for p in proposals[1:3]] == [p.id for p in as_list[1:3]] and proposals[-1] == as_list[-1]
    assert all(p.prompt and "@" in p.prompt[-1]["content"] and p.reply for p in proposals)
    assert pickle.loads(pickle.dumps(result)).proposals == as_list
    assert [p["reply"] for p in result.to_dict()["proposals"]] == [p.reply for p in as_list]
    assert len(result.accepted_proposals) + len(result.rejected_proposals) == 5
    with pytest.raises(IndexError):
        proposals[5]

    shutil.rmtree(run_dir)
    fresh = pickle.loads(pickle.dumps(result)).proposals
    with pytest.raises(StoreError, match="gone"):
        fresh[0]


def test_a_damaged_stored_prompt_is_reported_as_damage_not_a_decoding_crash(tmp_path):
    import sqlite3

    from honing.store import StoreDamagedError

    run_dir = tmp_path / "run"
    cfg = config(cycling_lm(["x"]), parallel=False, max_candidate_proposals=2, run_dir=str(run_dir))
    result = hn.optimize_anything("@", scored_by_example(CountingEvaluator(with_example=True)), dataset=DATASET,
                                  config=cfg)
    with sqlite3.connect(run_dir / "honing.db") as conn:
        (prompt,) = conn.execute("SELECT prompt FROM proposals ORDER BY seq LIMIT 1").fetchone()
        assert "zjson" in prompt  # a compressed prompt: make its compressed bytes garbage
        damaged = json.loads(prompt)
        damaged["v"] = base64.b64encode(b"not zlib at all").decode()
        conn.execute("UPDATE proposals SET prompt=? WHERE seq=(SELECT min(seq) FROM proposals)",
                     (json.dumps(damaged),))
    with pytest.raises(StoreDamagedError, match="cannot be read back"):
        result.proposals[0]


def test_a_store_that_cannot_read_back_keeps_the_proposals_in_memory(board_sizes):
    class WriteOnly:  # the Store protocol and nothing more
        def __init__(self) -> None:
            self.inner = MemoryStore()

        def open(self, *args, **kwargs):
            return self.inner.open(*args, **kwargs)

        def __getattr__(self, name):
            if name in ("recall", "proposal_log"):
                raise AttributeError(name)
            return getattr(self.inner, name)

    lm = cycling_lm(["x", "@@"])
    cfg = hn.Config(engine=hn.EngineConfig(max_metric_calls=30, parallel=False, max_candidate_proposals=4),
                    reflection=hn.ReflectionConfig(reflection_lm=lm), store=WriteOnly())
    result = hn.optimize_anything("@", scored_by_example(CountingEvaluator(with_example=True)), dataset=DATASET,
                                  config=cfg)
    assert isinstance(result.proposals, list) and len(result.proposals) == 4
    assert any(candidates > pool for candidates, pool in board_sizes)  # nothing retired


def test_gepa_callbacks_see_the_text_of_children_retired_meanwhile():
    # Four proposals in flight all write the same losing text: one may be retired by another's end before its
    # own GEPA events are built; they read it back from the store instead of failing.
    seen: list[dict] = []

    class GEPAStyle:
        def on_proposal_end(self, event):
            seen.append(dict(event["new_instructions"]))

    evaluator = CountingEvaluator(with_example=True)
    cfg = hn.Config(engine=hn.EngineConfig(max_metric_calls=80, max_candidate_proposals=24, max_proposals_in_flight=4,
                                           max_workers=4),
                    reflection=hn.ReflectionConfig(reflection_lm=cycling_lm(["x"])), callbacks=[GEPAStyle()])
    result = hn.optimize_anything("@", scored_by_example(evaluator), dataset=DATASET, config=cfg)
    assert len(result.proposals) == 24 and seen and all(s == {"candidate": "x"} or s == {} for s in seen)
    assert max(Counter(evaluator.calls).values()) == 1


def test_the_board_forgets_a_retired_child_and_takes_it_back_whole():
    from honing._records import CandidateRecord, EvaluationRecord
    from honing._scoreboard import ScoreBoard

    board = ScoreBoard(["v1", "v2"], "instance")
    seed = CandidateRecord(id=0, components={"candidate": "@"})
    child = CandidateRecord(id=1, components={"candidate": "x"}, parents=(0,), origin="reflection")
    evals = [EvaluationRecord(candidate_id=1, example_key=k, split="val", score=s, side_info={"trace": k})
             for k, s in (("v1", 0.2), ("v2", 0.4))]
    for record in (seed, child):
        board.add_candidate(record)
    board.admit(0)
    for record in evals:
        board.add_evaluation(record)
    board.mark_discovered(7)  # dates by the evaluations recorded so far
    recorded = board.discovered(7)

    assert not board.retire(0)  # a pool member is never retired
    assert board.retire(1) and board.is_retired(1) and board.candidate_count == 1
    assert board.find({"candidate": "x"}) == 1 and board.evaluation(1, "v1") is None
    assert not any(board.is_retired(c) for c in (-1, 0, 2, 9, 10**6))
    late = EvaluationRecord(candidate_id=1, example_key="t1", split="train", score=0.9)
    assert board.add_evaluation(late) is False and board.evaluation(1, "t1") is None  # the store has it

    board.recall(child, evals)
    assert not board.is_retired(1) and board.candidate(1) == child
    assert board.val_mean(1) == pytest.approx(0.3) and board.coverage(1) == 2
    assert board.evaluation(1, "v2").side_info == {"trace": "v2"}
    board.mark_discovered(8)
    assert board.discovered(8) == recorded + 1  # the late one counted once; the recalled ones not again
    assert [r.candidate_id for r in board.top_evaluations("v1", 10)] == [1]  # ranked once, not twice


def test_a_resume_retires_each_loser_as_it_is_read_not_after_loading_the_whole_run(monkeypatch, tmp_path):
    """Replaying a long run must not hold its history at once (a 20,000-proposal run: 148 MB, now 46 MB)."""
    counter = itertools.count()
    losers = ScriptedLM(lambda prompt: fenced(f"x{next(counter)}"))  # a new text each time, each scoring 0
    run_dir = str(tmp_path / "run")
    evaluator = CountingEvaluator(with_example=True)
    first = hn.optimize_anything("@", scored_by_example(evaluator), dataset=DATASET,
                                 config=config(losers, parallel=False, max_candidate_proposals=12, run_dir=run_dir))
    assert len(first.proposals) == 12 and len(first.candidates) == 1

    most: list[int] = []
    original = ScoreBoard.add_candidate

    def spy(self, record):
        original(self, record)
        most.append(self.candidate_count)

    monkeypatch.setattr(ScoreBoard, "add_candidate", spy)
    again = hn.optimize_anything("@", scored_by_example(evaluator), dataset=DATASET,
                                 config=config(losers, parallel=False, max_candidate_proposals=14, run_dir=run_dir))
    assert len(most) >= 13 and max(most) <= 2  # the seed, and the one candidate being read
    assert len(again.proposals) == 2 and max(Counter(evaluator.calls).values()) == 1


def test_a_resume_keeps_a_child_its_race_admitted_even_when_its_proposal_record_was_lost():
    """A full disk can keep the (synchronous) admission and lose the (queued) proposal: the child is in the pool."""
    from honing._records import AdmissionRecord, CandidateRecord, EvaluationRecord
    from honing._replay import replay
    from honing.store import StoredRun

    seed = CandidateRecord(id=0, components={"candidate": "@"})
    child = CandidateRecord(id=1, components={"candidate": "@@"}, parents=(0,), origin="reflection", proposal_id=0)
    loser = CandidateRecord(id=2, components={"candidate": "x"}, parents=(0,), origin="reflection", proposal_id=1)
    evals = [EvaluationRecord(candidate_id=c, example_key=k, split="val", score=s)
             for c, s in ((0, 0.1), (1, 0.2), (2, 0.0)) for k in ("v1", "v2")]
    stored = StoredRun(candidates=[seed, child, loser], evaluations=evals,
                       admissions=[AdmissionRecord(candidate_id=1, proposal_id=0, admitted=True, reason="won")])
    board = ScoreBoard(["v1", "v2"], "instance")
    replay(board, stored, retire_losers=True)
    assert board.in_pool(1) and board.candidate(1) == child
    assert board.is_retired(2) and not board.in_pool(2)
