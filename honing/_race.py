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
  specialist, and the frontier wants it;
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
from dataclasses import dataclass
from typing import Callable

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

    def run(self, child_id: int, proposal_id: int | None) -> AdmissionRecord | None:
        """Race one child; returns the verdict, or None when the run stopped before there was one."""
        keys = self.board.val_keys
        if not self.rules.enabled:
            self.evaluate(child_id, list(keys))
            if self.stopping.is_set() and not self.board.is_complete(child_id):
                return None
            return self._verdict(child_id, proposal_id, True, "admitted: won its minibatch (valset racing is off)")
        total = len(keys)
        while True:
            done = self.board.coverage(child_id)
            if done >= total:
                return self._final(child_id, proposal_id)
            if done >= min(self.rules.min_examples, total):
                stop = self._judge(child_id)
                if stop is not None:
                    return self._verdict(child_id, proposal_id, False, stop)
            target = min(total, max(self.rules.min_examples, math.ceil(done * self.rules.growth), done + 1))
            batch = self._next_keys(child_id, target - done)
            found = self.evaluate(child_id, batch)
            if len(found) < len(batch):
                if self.stopping.is_set():
                    return None  # no verdict: a resumed run finishes the race
                return self._verdict(child_id, proposal_id, False,
                                     f"the budget ran out after {self.board.coverage(child_id)} of {total} "
                                     "validation examples")

    # -- decisions -----------------------------------------------------------------
    def _judge(self, child_id: int) -> str | None:
        """A reason to stop the child now, or None to go on."""
        ref = self.board.best_id()
        if ref is None or ref == child_id:
            return None
        child = self.board.evaluations(child_id)
        weights = 0.0
        total = 0.0
        squares = 0.0
        for key in self.board.val_keys:
            mine = child.get(key)
            if mine is None:
                continue
            best = self.board.example_best(key)
            if best is not None and mine.score > best and not _tied(mine.score, best):
                return None  # better than every pool member here: a new specialist
            theirs = self.board.evaluation(ref, key)
            if theirs is None:
                continue
            diff = mine.score - theirs.score
            weights += 1
            total += diff
            squares += diff * diff
        if weights < self.rules.min_examples:
            return None
        mean = total / weights
        sd = math.sqrt(max(0.0, squares / weights - mean * mean))
        bound = mean + self.rules.z * sd / math.sqrt(weights)
        if bound > 0 and not _tied(bound, 0.0):
            return None
        return (f"raced out after {self.board.coverage(child_id)} of {len(self.board.val_keys)} validation "
                f"examples: {mean:+.4g} against the best candidate ({ref}) on the same examples, "
                f"no better anywhere than the pool")

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
                what.append(f"the best mean validation score ({mean:.6g} vs {best_mean if best_mean is None else f'{best_mean:.6g}'})")
            if leads:
                what.append(f"a new best on {len(leads)} frontier point{'s' if len(leads) != 1 else ''}")
            return self._verdict(child_id, proposal_id, True, "admitted: " + " and ".join(what))
        return self._verdict(child_id, proposal_id, False,
                             f"scored on all {len(self.board.val_keys)} validation examples and better than the "
                             "pool nowhere")

    def _verdict(self, child_id: int, proposal_id: int | None, admitted: bool, reason: str) -> AdmissionRecord:
        return AdmissionRecord(candidate_id=child_id, proposal_id=proposal_id, admitted=admitted, reason=reason,
                               val_evaluated=self.board.coverage(child_id), created_at=time.time())

    # -- order -----------------------------------------------------------------------
    def _next_keys(self, child_id: int, count: int) -> list[str]:
        """The next unscored validation examples: where the best candidate is weakest first."""
        scored = self.board.evaluations(child_id)
        ref = self.board.best_id()

        def order(key: str) -> tuple[float, str]:
            theirs = None if ref is None else self.board.evaluation(ref, key)
            tie = hashlib.blake2b(f"{self.seed}:{child_id}:{key}".encode(), digest_size=8).hexdigest()
            return (theirs.score if theirs is not None else float("-inf"), tie)

        remaining = [k for k in self.board.val_keys if k not in scored]
        remaining.sort(key=order)
        return remaining[:count]
