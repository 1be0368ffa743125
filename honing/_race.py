"""Validation races: a minibatch winner earns its place in the pool, or is stopped early.

Beating its parent on a few training examples says little about a child; the
valset decides. Scoring every minibatch winner on the whole valset, as GEPA
does, is where most of a budget goes, and much of it buys nothing: a sibling
that is merely as good as a candidate admitted a moment ago, or a child that
won its minibatch by luck. So a winner is *raced* instead:

* it is scored on the validation examples in rounds that grow geometrically,
  first where the current best candidate is weakest (where a real improvement
  shows first);
* after each round it is compared with the current best on the same examples
  (a paired comparison, so the examples' difficulty cancels out); when even an
  optimistic bound on its advantage is not positive, it is stopped;
* a child that beats every pool member somewhere is never stopped: it is a new
  specialist, and the frontier wants it -- unless a sibling racing beside it
  is at least as good on every example both were scored on (two proposals in
  flight often write the same improvement; the one that started racing first
  goes on, a later one that adds nothing stops);
* a child that completes the valset is admitted only if it leads somewhere
  (a new best on an example, objective or pair) or has the best mean; a
  candidate that merely ties the pool everywhere adds nothing.

Every decision is recorded (``AdmissionRecord``); a race cut short by a stop
has no record yet and simply continues when the run is resumed.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ._frontier import _tied
from ._records import AdmissionRecord, EvaluationRecord
from ._scoreboard import ScoreBoard

Evaluate = Callable[[int, list[str]], dict[str, EvaluationRecord]]


@dataclass(frozen=True)
class RaceRules:
    """How races are run (``EngineConfig.valset_racing`` turns them off)."""

    enabled: bool = True
    min_examples: int = 3  # never stopped before this many validation examples
    growth: float = 1.5  # each round brings the examples scored to at least this multiple
    z: float = 1.0  # how optimistic the bound on a child's advantage is


class ValsetRace:
    def __init__(self, board: ScoreBoard, evaluate: Evaluate, rules: RaceRules, *,
                 stopping: threading.Event, seed: int = 0) -> None:
        self.board = board
        self.evaluate = evaluate
        self.rules = rules
        self.stopping = stopping
        self.seed = seed
        self._lock = threading.Lock()
        self._racing: dict[int, int] = {}  # candidate -> when its race started (an increasing number)
        self._started = 0

    def is_racing(self, child_id: int) -> bool:
        with self._lock:
            return child_id in self._racing

    def run(self, child_id: int, proposal_id: int | None) -> AdmissionRecord | None:
        """Race one child; returns the verdict, or None when the run stopped before there was one."""
        if not self.rules.enabled:
            self.evaluate(child_id, list(self.board.val_keys))
            if self.stopping.is_set() and not self.board.is_complete(child_id):
                return None
            return self._verdict(child_id, proposal_id, True, "admitted: won its minibatch (valset racing is off)")
        with self._lock:
            self._racing[child_id] = self._started
            self._started += 1
        try:
            return self._race(child_id, proposal_id)
        finally:
            with self._lock:
                self._racing.pop(child_id, None)

    def _race(self, child_id: int, proposal_id: int | None) -> AdmissionRecord | None:
        lane = _Lane(self, child_id)
        total = len(self.board.val_keys)
        checks = self._checkpoints(total)
        while True:
            done = lane.update()
            if done >= total:
                return self._final(child_id, proposal_id)
            if done in checks:
                stop = lane.judge() or self._outrun(child_id, lane.scored)
                if stop is not None:
                    return self._verdict(child_id, proposal_id, False, stop)
            target = min(c for c in checks if c > done)
            batch = lane.next_keys(target - done)
            found = self.evaluate(child_id, batch)
            if len(found) < len(batch):
                if self.stopping.is_set():
                    return None  # no verdict: a resumed run finishes the race
                return self._verdict(child_id, proposal_id, False,
                                     f"the budget ran out after {self.board.coverage(child_id)} of {total} "
                                     "validation examples")

    def _checkpoints(self, total: int) -> set[int]:
        """The coverages at which a child is judged: 3, 5, 8, 12, ... (``min_examples``, then ``growth``).

        Fixed in advance, so a race a crash cut short between two checks is
        judged at the same coverages when the resumed run finishes it.
        """
        mark = min(self.rules.min_examples, total)
        checks = {mark}
        while mark < total:
            mark = min(total, max(math.ceil(mark * self.rules.growth), mark + 1))
            checks.add(mark)
        return checks

    # -- decisions -----------------------------------------------------------------
    def _outrun(self, child_id: int, scored: list[str]) -> str | None:
        """A reason to stop because a sibling racing beside it already does what it does, or better.

        Siblings that wrote the same improvement tell on the first examples both
        are scored on, so only those (at most ``RIVAL_KEYS``) are compared.
        """
        with self._lock:
            me = self._racing.get(child_id)
            rivals = sorted(((cid, order) for cid, order in self._racing.items() if cid != child_id),
                            key=lambda item: item[1])
        if me is None or not rivals:
            return None
        for rival, order in rivals:
            common = 0
            worse_nowhere, better_somewhere = True, False
            for key in scored:
                theirs = self.board.evaluation(rival, key)
                mine = self.board.evaluation(child_id, key)
                if theirs is None or mine is None:
                    continue
                common += 1
                if mine.score > theirs.score and not _tied(mine.score, theirs.score):
                    worse_nowhere = False
                    break
                if theirs.score > mine.score and not _tied(theirs.score, mine.score):
                    better_somewhere = True
                if common >= RIVAL_KEYS:
                    break
            if common >= self.rules.min_examples and worse_nowhere and (order < me or better_somewhere):
                return (f"raced out after {self.board.coverage(child_id)} of {len(self.board.val_keys)} validation "
                        f"examples: candidate {rival}, racing beside it, is at least as good on the {common} "
                        "examples both were scored on")
        return None

    def _final(self, child_id: int, proposal_id: int | None) -> AdmissionRecord:
        leads = [key for key, value in self.board.prospective_points(child_id).items()
                 if (best := self.board.frontier.best_value(key)) is None or (value > best and not _tied(value, best))]
        mean = self.board.val_mean(child_id)
        best_id = self.board.best_id()
        best_mean = None if best_id is None else self.board.val_mean(best_id)
        better = mean is not None and (best_mean is None or (mean > best_mean and not _tied(mean, best_mean)))
        if better or leads:
            what = []
            if better:
                theirs = best_mean if best_mean is None else f"{best_mean:.6g}"
                what.append(f"the best mean validation score ({mean:.6g} vs {theirs})")
            if leads:
                what.append(f"a new best on {len(leads)} frontier point{'s' if len(leads) != 1 else ''}")
            return self._verdict(child_id, proposal_id, True, "admitted: " + " and ".join(what))
        return self._verdict(child_id, proposal_id, False,
                             f"scored on all {len(self.board.val_keys)} validation examples and better than the "
                             "pool nowhere")

    def _verdict(self, child_id: int, proposal_id: int | None, admitted: bool, reason: str) -> AdmissionRecord:
        return AdmissionRecord(candidate_id=child_id, proposal_id=proposal_id, admitted=admitted, reason=reason,
                               val_evaluated=self.board.coverage(child_id), created_at=time.time())


RIVAL_KEYS = 32  # examples compared between two children racing side by side


class _Lane:
    """One child's race, kept incrementally: each round costs what its new examples cost.

    The reference is the pool's best candidate; when it changes (an admission
    meanwhile), the paired statistics and the order of the remaining examples
    are rebuilt once. Whether the child beats the pool somewhere is checked on
    new examples only, and on all of them again when the pool grew.
    """

    def __init__(self, race: ValsetRace, child_id: int) -> None:
        self.race = race
        self.board = race.board
        self.child = child_id
        self.scored: list[str] = []
        self._seen: set[str] = set()
        self._ref: int | None = None
        self._n = 0
        self._sum = 0.0
        self._squares = 0.0
        self._pool_size = -1
        self._leads = False
        self._order: list[str] = []
        self._cursor = 0
        self._pending: list[str] = []  # the keys last handed out by next_keys

    def update(self) -> int:
        """Take in the examples scored since the last look; returns how many are scored."""
        board = self.board
        candidates: Sequence[str] = self._pending
        self._pending = []
        if board.coverage(self.child) > len(self._seen) + len(candidates):  # a first look (or scored elsewhere)
            candidates = board.val_keys
        fresh = []
        for key in candidates:
            if key not in self._seen and board.evaluation(self.child, key) is not None:
                self._seen.add(key)
                self.scored.append(key)
                fresh.append(key)
        ref = board.best_id()
        if ref != self._ref:
            self._ref, self._n, self._sum, self._squares = ref, 0, 0.0, 0.0
            self._add_pairs(self.scored)
            self._order, self._cursor = [], 0
        else:
            self._add_pairs(fresh)
        if board.pool_size != self._pool_size:
            self._pool_size = board.pool_size
            self._leads = any(self._leads_at(k) for k in self.scored)
        elif not self._leads:
            self._leads = any(self._leads_at(k) for k in fresh)
        return len(self.scored)

    def _leads_at(self, key: str) -> bool:
        mine = self.board.evaluation(self.child, key)
        best = self.board.example_best(key)
        return mine is not None and best is not None and mine.score > best and not _tied(mine.score, best)

    def _add_pairs(self, keys: list[str]) -> None:
        if self._ref is None or self._ref == self.child:
            return
        for key in keys:
            theirs = self.board.evaluation(self._ref, key)
            mine = self.board.evaluation(self.child, key)
            if theirs is None or mine is None:
                continue
            diff = mine.score - theirs.score
            self._n += 1
            self._sum += diff
            self._squares += diff * diff

    def judge(self) -> str | None:
        """A reason to stop the child now (it is no better than the best on the same examples), or None."""
        if self._leads or self._ref is None or self._ref == self.child or self._n < self.race.rules.min_examples:
            return None  # a new specialist is never stopped; without a reference there is nothing to lose to
        mean = self._sum / self._n
        sd = math.sqrt(max(0.0, self._squares / self._n - mean * mean))
        bound = mean + self.race.rules.z * sd / math.sqrt(self._n)
        if bound > 0 and not _tied(bound, 0.0):
            return None
        return (f"raced out after {len(self.scored)} of {len(self.board.val_keys)} validation examples: "
                f"{mean:+.4g} against the best candidate ({self._ref}) on the same examples, no better anywhere "
                "than the pool")

    def next_keys(self, count: int) -> list[str]:
        """The next unscored validation examples: where the reference is weakest first."""
        if not self._order:
            ref = self._ref
            seed, child = self.race.seed, self.child

            def order(key: str) -> tuple[float, str]:
                theirs = None if ref is None else self.board.evaluation(ref, key)
                tie = hashlib.blake2b(f"{seed}:{child}:{key}".encode(), digest_size=8).hexdigest()
                return (theirs.score if theirs is not None else float("-inf"), tie)

            self._order = sorted((k for k in self.board.val_keys if k not in self._seen), key=order)
            self._cursor = 0
        picked: list[str] = []
        while self._cursor < len(self._order) and len(picked) < count:
            key = self._order[self._cursor]
            self._cursor += 1
            if key not in self._seen:
                picked.append(key)
        self._pending = list(picked)
        return picked
