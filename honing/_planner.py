"""What the next proposal works on: a parent, its components and a minibatch, or a merge pair.

A proposal is planned at the last moment: when it actually gets the LM (for
an LM with few slots, when a slot frees up), from the frontier as it is then.
Planning early, as a queue of work does, hands every proposal of a wave the
same stale parent.

Every choice draws from a random stream seeded by (run seed, proposal id)
and the minibatch stream is indexed by the reflection's number, so what a
proposal works on depends on the seed and the board, not on which thread
got there first or whether the run was interrupted and resumed.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from ._config import Config
from ._proposals import Plan
from ._replay import ReplayState
from ._scoreboard import ScoreBoard
from ._selection import (
    MinibatchSampler,
    ParentSelector,
    RoundRobinComponents,
    make_component_selector,
    make_parent_selector,
)

MERGE_PAIR_TRIES = 64  # candidate pairs examined per merge attempt (the search stays sub-quadratic)


class Planner:
    def __init__(self, *, board: ScoreBoard, config: Config, train_keys: Sequence[str], minibatch_size: int,
                 replayed: ReplayState, racing: Callable[[int], bool] = lambda candidate_id: False) -> None:
        eng = config.engine
        self.board = board
        self.seed = eng.seed
        self.parent_selector: ParentSelector = make_parent_selector(eng.candidate_selection_strategy,
                                                                    epsilon=eng.epsilon)
        self._builtin_selector = type(self.parent_selector).__module__ == "honing._selection"
        self.component_selector = make_component_selector(config.reflection.module_selector)
        if isinstance(self.component_selector, RoundRobinComponents):
            for child_id, edited in replayed.child_edits.items():
                self.note_child(child_id, edited)
            self.component_selector.restore(replayed.reflections_by_parent)
        self.sampler = MinibatchSampler(train_keys, minibatch_size, eng.seed)
        self.merge = config.merge
        self._lock = threading.Lock()
        self._reflections = replayed.reflections
        self._merges_due = 0
        self._merges_done = 0
        self._merge_tried: set[tuple[int, int]] = set()
        self._racing = racing
        self._winners: deque[tuple[int, tuple[str, ...]]] = deque()  # minibatch winners not yet built on

    def rng(self, proposal_id: int) -> random.Random:
        return random.Random(f"{self.seed}:proposal:{proposal_id}")

    def note_child(self, child_id: int, edited: Sequence[str]) -> None:
        """A reflection made ``child_id`` by editing ``edited``: its own reflections go on from there."""
        if isinstance(self.component_selector, RoundRobinComponents):
            names = list(self.board.candidate(child_id).components)
            self.component_selector.start_after(child_id, edited, names)

    def offer(self, child_id: int, minibatch: tuple[str, ...]) -> None:
        """A child just won its minibatch and is being raced: the next proposal may build on it."""
        with self._lock:
            self._winners.append((child_id, tuple(minibatch)))

    def next(self, proposal_id: int) -> Plan | None:
        """A merge when one is due and a pair is found, otherwise a reflection; None if nothing can be planned.

        A child that won its minibatch and is still being raced is built on at
        once, by one proposal, on the same minibatch (its scores there are
        known, so the step costs no new evaluation of the parent): most
        winners are admitted, and a proposal that waited for the verdict
        would start from a parent about to be replaced. Racing in the
        background and building on the winner meanwhile is what keeps a
        pipelined run close to a sequential one's quality.
        """
        optimistic = self._optimistic(proposal_id)
        if optimistic is not None:
            return optimistic
        if self._take_merge():
            found = self._merge_pair(self.rng(proposal_id))
            if found is not None:
                with self._lock:
                    self._merges_done += 1
                return Plan(proposal_id=proposal_id, kind="merge", parent_ids=found[0], ancestor_id=found[1])
        return self._reflection(proposal_id)

    def note_admitted(self) -> None:
        """A new candidate entered the pool: a merge becomes due (when merging is on)."""
        if self.merge is not None:
            with self._lock:
                self._merges_due += 1

    def _optimistic(self, proposal_id: int) -> Plan | None:
        while True:
            with self._lock:
                if not self._winners:
                    return None
                child_id, minibatch = self._winners.popleft()
            if self._racing(child_id):
                break
        names = list(self.board.candidate(child_id).components)
        components = tuple(self.component_selector.select(child_id, names, self.rng(proposal_id)))
        return Plan(proposal_id=proposal_id, kind="reflection", parent_ids=(child_id,), components=components,
                    minibatch=minibatch, pool_mark=self.board.pool_size)

    # -- reflection -------------------------------------------------------------------
    def _reflection(self, proposal_id: int) -> Plan | None:
        rng = self.rng(proposal_id)
        with self.board.locked():
            aggregates = self.board.aggregates()
            if not aggregates:
                return None
            front: Any = self.board.frontier if self._builtin_selector else self.board.front
            parent = self.parent_selector.select(front, aggregates, rng)
        names = list(self.board.candidate(parent).components)
        components = tuple(self.component_selector.select(parent, names, rng))
        with self._lock:
            index = self._reflections
            self._reflections += 1
        return Plan(proposal_id=proposal_id, kind="reflection", parent_ids=(parent,), components=components,
                    minibatch=tuple(self.sampler.batch(index)), pool_mark=self.board.pool_size)

    # -- merge ----------------------------------------------------------------------------
    def _take_merge(self) -> bool:
        if self.merge is None:
            return False
        with self._lock:
            if self._merges_due <= 0 or self._merges_done >= self.merge.max_merge_invocations:
                return False
            self._merges_due -= 1  # a due merge is tried once; it only counts as done when a pair is found
            return True

    def _merge_pair(self, rng: random.Random) -> tuple[tuple[int, int], int] | None:
        """Two non-dominated members with a common ancestor that neither descends from, and enough overlap."""
        assert self.merge is not None
        with self.board.locked():
            members = sorted(self.board.frontier.non_dominated())
        if len(members) < 2:
            return None
        need = min(self.merge.merge_val_overlap_floor, len(self.board.val_keys))
        for _ in range(MERGE_PAIR_TRIES):
            i, j = sorted(rng.sample(members, 2))
            with self._lock:
                if (i, j) in self._merge_tried:
                    continue
                self._merge_tried.add((i, j))
            ai, aj = self.board.ancestors(i), self.board.ancestors(j)
            if i in aj or j in ai:
                continue
            common = ai & aj
            if not common:
                continue
            evals_i, evals_j = self.board.evaluations(i), self.board.evaluations(j)
            overlap = sum(1 for k in self.board.val_keys if k in evals_i and k in evals_j)
            if overlap < need:
                continue
            return (i, j), max(common)  # the most recent shared ancestor
        return None
