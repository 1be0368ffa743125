"""A validation race a crash cut short between two checks ends as the uninterrupted race would.

With one worker a race scores its rounds one example at a time, so a kill can
leave a child at any coverage. The resumed race must judge it at the same
coverages (3, 5, 8, ...) as the uninterrupted one, not wherever the crash left
it: judged at 4 here, the child would be stopped; at 5 it shows an example where
it beats every pool member, and goes on.
"""

from __future__ import annotations

import threading

from honing._race import RaceRules, ValsetRace
from honing._records import CandidateRecord, EvaluationRecord
from honing._scoreboard import ScoreBoard

VAL = [f"k{i}" for i in range(8)]
BEST = {"k0": 0.1, "k1": 0.1, "k2": 0.1, "k3": 0.4, "k4": 0.4, "k5": 0.5, "k6": 0.6, "k7": 0.7}
OTHER = {key: 0.2 if key == "k0" else 0.0 for key in VAL}  # a weaker pool member, better on k0 only
CHILD = {"k0": 0.11, "k1": 0.1, "k2": 0.1, "k3": 0.0, "k4": 1.0, "k5": 0.5, "k6": 0.6, "k7": 0.7}


def _board() -> ScoreBoard:
    board = ScoreBoard(VAL, "instance")
    for cid, origin in ((0, "seed"), (1, "reflection"), (2, "seed")):
        board.add_candidate(CandidateRecord(id=cid, components={"text": str(cid)}, origin=origin))  # type: ignore[arg-type]
    for cid, scores in ((0, BEST), (2, OTHER)):
        board.admit(cid)
        for key in VAL:
            board.add_evaluation(EvaluationRecord(candidate_id=cid, example_key=key, split="val", score=scores[key]))
    return board


def _race(board: ScoreBoard, calls: list[str]) -> ValsetRace:
    def evaluate(cid: int, keys: list[str]) -> dict[str, EvaluationRecord]:
        found = {}
        for key in keys:
            calls.append(key)
            record = EvaluationRecord(candidate_id=cid, example_key=key, split="val", score=CHILD[key])
            board.add_evaluation(record)
            found[key] = record
        return found

    return ValsetRace(board, evaluate, RaceRules(), stopping=threading.Event())


def test_a_race_resumed_between_two_checks_decides_as_the_uninterrupted_race():
    calls: list[str] = []
    uninterrupted = _race(_board(), calls).run(1, 0)
    assert calls[:5] == ["k0", "k1", "k2", "k3", "k4"]  # where the best is weakest first

    for cut in range(1, len(calls)):  # a kill after each of the race's evaluations
        board = _board()
        before: list[str] = []
        _race(board, before).evaluate(1, calls[:cut])
        after: list[str] = []
        resumed = _race(board, after).run(1, 0)
        assert (resumed.admitted, resumed.reason, resumed.val_evaluated) == \
               (uninterrupted.admitted, uninterrupted.reason, uninterrupted.val_evaluated), f"cut after {cut}"
        assert calls[:cut] + after == calls
