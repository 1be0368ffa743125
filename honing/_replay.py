"""Rebuilding a run's live view from its records: one rulebook for resume and for viewers.

A stored run is an append-only log; every derived view (the pool, each
candidate's mean, the best candidate, the frontier) comes from feeding that
log into a ``ScoreBoard`` through a ``Replayer``. The engine does this on
resume and ``RunReader`` does it for ``show``, ``report`` and the dashboard,
so they cannot disagree about which candidates are in the pool.

The pool rule: seeds (given or generated) are in it from the start; any other
candidate is in it once an admission record says it won its validation race.
Stores written before races existed have no admission records: there every
child of an accepted proposal was admitted, and that is what is replayed.
Records may arrive in any order (a viewer reads tables in turn).
"""

from __future__ import annotations

import bisect
import dataclasses
from array import array
from collections import Counter
from dataclasses import dataclass, field

from ._records import AdmissionRecord, CandidateRecord, EvaluationRecord, LMUsage, Origin, ProposalRecord
from ._scoreboard import ScoreBoard
from .store import StoredRun

SEED_ORIGINS = ("seed", "generated")
_NO_USAGE = LMUsage()


@dataclass
class ReplayState:
    """What the records say beyond the board: who is still racing, what was spent, what was cut short."""

    #: candidates that won their minibatch and have no verdict yet, in proposal order
    racing: list[int] = field(default_factory=list)
    #: evaluations that count against the budget (finished ones)
    spent: int = 0
    #: (candidate, example) pairs started and never finished, with how many times they were started
    unfinished: Counter[tuple[int, str]] = field(default_factory=Counter)
    #: the next free proposal id
    next_proposal_id: int = 0
    #: the stored run's proposals, those whose child won its minibatch, and children that entered the pool
    #: (a resumed run goes on counting: ``max_candidate_proposals`` is the whole run's, like the budget)
    proposals: int = 0
    accepted: int = 0
    admitted: int = 0
    #: reflection proposals so far, by parent (for round-robin component selection)
    reflections_by_parent: Counter[int] = field(default_factory=Counter)
    #: reflection proposals so far (the minibatch stream's position)
    reflections: int = 0
    #: each child that won its minibatch, with the components its proposal edited (where its round robin starts)
    child_edits: dict[int, tuple[str, ...]] = field(default_factory=dict)
    #: children that won a minibatch and were raced (a later proposal of the same text is a duplicate)
    judged: set[int] = field(default_factory=set)
    #: a proposal had spent evaluations when the run died, and has no record: the resumed run starts it
    #: again even if the budget left looks too small, as the interrupted run had started it with more
    interrupted: bool = False


class PoolRule:
    """Who is in the pool, fed facts one at a time; each method returns the candidates that enter it now.

    Shared by the ``Replayer`` (resume) and the store's viewer (``show``,
    ``report``, the dashboard), so they cannot disagree.
    """

    def __init__(self, *, legacy: bool = False) -> None:
        self.legacy = legacy  # a store from before races: a child that won its minibatch was admitted
        self._known: set[int] = set()
        self._waiting: set[int] = set()  # admitted before its candidate record was seen (a viewer's read order)

    def candidate(self, candidate_id: int, origin: Origin) -> list[int]:
        self._known.add(candidate_id)
        if origin in SEED_ORIGINS or candidate_id in self._waiting:
            self._waiting.discard(candidate_id)
            return [candidate_id]
        return []

    def proposal(self, accepted: bool, child_id: int | None) -> list[int]:
        return self._admit(child_id) if self.legacy and accepted and child_id is not None else []

    def admission(self, candidate_id: int, admitted: bool) -> list[int]:
        return self._admit(candidate_id) if admitted else []

    def _admit(self, candidate_id: int) -> list[int]:
        if candidate_id in self._known:
            return [candidate_id]
        self._waiting.add(candidate_id)
        return []


class Replayer:
    """Feeds records into a board, one at a time, applying the pool rule."""

    def __init__(self, board: ScoreBoard, *, legacy: bool = False) -> None:
        self.board = board
        self.rule = PoolRule(legacy=legacy)
        self.state = ReplayState()
        self._verdicts: dict[int, bool] = {}
        self._won: dict[int, None] = {}  # children that won their minibatch, in order

    def candidate(self, record: CandidateRecord) -> None:
        self.board.add_candidate(record)
        for cid in self.rule.candidate(record.id, record.origin):
            self.board.admit(cid)

    def evaluation(self, record: EvaluationRecord) -> None:
        self.board.add_evaluation(record)
        self.state.spent += 1

    def proposal(self, record: ProposalRecord) -> None:
        self.state.next_proposal_id = max(self.state.next_proposal_id, record.id + 1)
        self.state.proposals += 1
        self.state.accepted += record.accepted
        if record.kind == "reflection":
            self.state.reflections += 1
            if record.parent_ids:
                self.state.reflections_by_parent[record.parent_ids[0]] += 1
            if record.child_id is not None and record.accepted:
                self.state.child_edits.setdefault(record.child_id, tuple(record.components))
        if record.accepted and record.child_id is not None:
            self.state.judged.add(record.child_id)
            self._won[record.child_id] = None
            if self.rule.legacy:
                self._verdicts[record.child_id] = True
        for cid in self.rule.proposal(record.accepted, record.child_id):
            self.board.admit(cid)

    def admission(self, record: AdmissionRecord) -> None:
        self._verdicts[record.candidate_id] = record.admitted
        for cid in self.rule.admission(record.candidate_id, record.admitted):
            self.board.admit(cid)

    def started(self, pairs: list[tuple[int, str]]) -> None:
        """Starts that have no result (a pair repeats once per attempt)."""
        self.state.unfinished.update(pairs)

    def finish(self) -> ReplayState:
        self.state.admitted = sum(self._verdicts.values())
        self.state.racing = [c for c in self._won if c not in self._verdicts and not self.board.in_pool(c)]
        return self.state


def replay(board: ScoreBoard, stored: StoredRun, *, retire_losers: bool = False) -> ReplayState:
    """Feed a whole stored run into ``board``; returns what the engine needs to carry on.

    Each kind of record is gone through once (a store may decode them on
    access), proposals first, without their prompts and replies: then a child
    that lost its minibatch is known as such when its candidate is read, and
    with ``retire_losers`` (the store can bring it back) it is retired at
    once, so a resume holds what the live run held, not the whole history.
    """
    replayer = Replayer(board, legacy=stored.admissions is None)
    accounted = _Accounted(set(board.val_keys))
    names: dict[str, str] = {}
    proposals = []
    for record in stored.proposals:
        accounted.add(record)
        proposals.append(dataclasses.replace(  # what replaying it needs; 20,000 in full took 20 MB
            record, components=tuple(names.setdefault(n, n) for n in record.components), prompt=None, reply=None,
            reason="", minibatch_keys=(), usage=_NO_USAGE, error=None))
    # Kept: every minibatch winner, and every child a race admitted even if its proposal record was lost (a
    # proposal is committed with the next record that waits, an admission at once: a full disk can keep one only).
    kept = {p.child_id for p in proposals if p.accepted and p.child_id is not None}
    kept.update(a.candidate_id for a in stored.admissions or () if a.admitted)
    for candidate in stored.candidates:
        replayer.candidate(candidate)
        if candidate.origin in SEED_ORIGINS:
            accounted.open_ended.add(candidate.id)
        if retire_losers and candidate.origin != "refined" and candidate.id not in kept:
            board.retire(candidate.id)  # lost its minibatch, or its proposal died with the run (pool members stay)
    times = array("d")
    unaccounted = 0
    for evaluation in stored.evaluations:
        replayer.evaluation(evaluation)
        times.append(evaluation.created_at)
        unaccounted += not accounted.covers(evaluation.candidate_id, evaluation.example_key)
    ordered = sorted(times)
    for proposal in proposals:
        replayer.proposal(proposal)
        if proposal.accepted and proposal.child_id is not None:  # date its discovery, as the live run did
            board.mark_discovered(proposal.child_id, bisect.bisect_right(ordered, proposal.created_at))
    for admission in stored.admissions or ():
        replayer.admission(admission)
    started = list(stored.started)
    replayer.started(started)
    unaccounted += sum(not accounted.covers(cid, key) for cid, key in started)
    state = replayer.finish()
    state.interrupted = unaccounted > 0
    return state


class _Accounted:
    """Which spent evaluations the stored records account for; the rest were a proposal's that died with the run.

    Seeds' and raced children's validation evaluations, and the minibatch
    pairs (parents and child) of every recorded proposal, are accounted for;
    what is left was spent by a proposal that has no record yet.
    """

    def __init__(self, val_keys: set[str]) -> None:
        self.val_keys = val_keys
        self.open_ended: set[int] = set()  # any validation example of these is accounted for (seeds are added)
        self.pairs: set[tuple[int, str]] = set()
        self._keys: dict[str, str] = {}  # one string per example key, not one per pair

    def add(self, proposal: ProposalRecord) -> None:
        if proposal.accepted and proposal.child_id is not None:
            self.open_ended.add(proposal.child_id)  # raced: any validation example
        keys = [self._keys.setdefault(key, key) for key in proposal.minibatch_keys]
        for cid in (*proposal.parent_ids, proposal.child_id):
            if cid is not None:
                self.pairs.update((cid, key) for key in keys)

    def covers(self, candidate_id: int, key: str) -> bool:
        return (candidate_id in self.open_ended and key in self.val_keys) or (candidate_id, key) in self.pairs
