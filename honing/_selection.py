"""Choosing what to improve next: a parent, its components, and a minibatch.

Each choice is a small strategy object so users can swap one without touching
the engine. All randomness comes from the ``random.Random`` the engine passes
in, and candidates are sorted before any draw, so a run is reproducible from
its seed no matter how dict or set iteration orders its ids.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from ._frontier import ParetoFront

PARENT_SELECTORS = ("pareto", "current_best", "epsilon_greedy")
COMPONENT_SELECTORS = ("round_robin", "all")


# -- parents ---------------------------------------------------------------------

@runtime_checkable
class ParentSelector(Protocol):
    def select(self, front: ParetoFront, aggregate: Mapping[int, float], rng: random.Random) -> int:
        """Return the id of the candidate to reflect on next.

        ``aggregate`` maps each selectable candidate to its mean score.
        """
        ...


def _best(aggregate: Mapping[int, float], front: ParetoFront) -> int:
    """The highest aggregate (lowest id among ties); a front member if no aggregates exist."""
    if aggregate:
        return min(aggregate, key=lambda c: (-aggregate[c], c))
    members = front.members()
    if members:
        return min(members)
    raise ValueError("no candidates to select a parent from")


class CurrentBestSelector:
    """Always the candidate with the best mean score: pure exploitation."""

    def select(self, front: ParetoFront, aggregate: Mapping[int, float], rng: random.Random) -> int:
        return _best(aggregate, front)


class ParetoSelector:
    """Sample a non-dominated member, weighted by how many keys it leads.

    Weighting by lead count (as GEPA does) favours broad winners while still
    giving every specialist a chance; dominated members are skipped because
    whatever they lead, a member at least as good everywhere leads too. With
    an empty front (nothing scored on the valset yet) it falls back to the
    best aggregate.
    """

    def select(self, front: ParetoFront, aggregate: Mapping[int, float], rng: random.Random) -> int:
        candidates = sorted(front.non_dominated())
        if not candidates:
            return _best(aggregate, front)
        counts = front.lead_counts()
        weights = [counts.get(c, 0) for c in candidates]
        if sum(weights) <= 0:
            return rng.choice(candidates)
        return rng.choices(candidates, weights=weights, k=1)[0]


class EpsilonGreedySelector:
    """With probability ``epsilon`` any candidate uniformly, otherwise the best.

    One ``rng.random()`` draw is consumed on every call, whatever the outcome,
    so the random stream (and hence the rest of the run) does not depend on
    which branch was taken.
    """

    def __init__(self, epsilon: float = 0.1) -> None:
        if not 0.0 <= float(epsilon) <= 1.0:
            raise ValueError(f"epsilon must be within [0, 1], got {epsilon!r}")
        self.epsilon = float(epsilon)

    def select(self, front: ParetoFront, aggregate: Mapping[int, float], rng: random.Random) -> int:
        explore = rng.random() < self.epsilon
        if explore and aggregate:
            return rng.choice(sorted(aggregate))
        return _best(aggregate, front)


def make_parent_selector(strategy: str | ParentSelector, *, epsilon: float = 0.1) -> ParentSelector:
    """A parent selector from its name, or ``strategy`` itself if it has ``select``.

    ``epsilon`` only matters for ``"epsilon_greedy"``.
    """
    if isinstance(strategy, str):
        if strategy == "pareto":
            return ParetoSelector()
        if strategy == "current_best":
            return CurrentBestSelector()
        if strategy == "epsilon_greedy":
            return EpsilonGreedySelector(epsilon)
    elif callable(getattr(strategy, "select", None)):
        return strategy
    raise ValueError(f"unknown parent selection strategy {strategy!r}; valid names are "
                     f"{', '.join(PARENT_SELECTORS)}, or pass an object with a select() method")


# -- components ------------------------------------------------------------------

@runtime_checkable
class ComponentSelector(Protocol):
    def select(self, candidate_id: int, components: Sequence[str], rng: random.Random) -> list[str]:
        """Return the names of the components of ``candidate_id`` to rewrite."""
        ...


class RoundRobinComponents:
    """One component per proposal, cycling through them separately for each candidate.

    Rewriting one component at a time keeps a reflection focused and makes an
    improvement attributable; keeping a counter per candidate means a parent
    picked repeatedly gets each of its components improved in turn. Proposals
    run on several threads, so the counters sit behind a lock.
    """

    def __init__(self) -> None:
        self._next: dict[int, int] = {}
        self._lock = threading.Lock()

    def start_after(self, candidate_id: int, edited: Sequence[str], components: Sequence[str]) -> None:
        """A new candidate starts with the component after the one its own proposal edited.

        So a line of descendants cycles through the components, as one
        candidate picked again and again does; each new candidate starting
        from the first component again would rewrite only that one along a
        chain of improvements.
        """
        positions = [list(components).index(name) for name in edited if name in components]
        if not positions:
            return
        with self._lock:
            self._next.setdefault(candidate_id, max(positions) + 1)

    def restore(self, counts: Mapping[int, int]) -> None:
        """Carry on from an earlier session: ``counts`` is how often each candidate was a parent."""
        with self._lock:
            for candidate_id, count in counts.items():
                self._next[candidate_id] = self._next.get(candidate_id, 0) + count

    def select(self, candidate_id: int, components: Sequence[str], rng: random.Random) -> list[str]:
        if not components:
            return []
        with self._lock:
            i = self._next.get(candidate_id, 0)
            self._next[candidate_id] = i + 1
        return [components[i % len(components)]]


class AllComponents:
    """Every component at once: for artifacts whose parts must change together."""

    def select(self, candidate_id: int, components: Sequence[str], rng: random.Random) -> list[str]:
        return list(components)


def make_component_selector(strategy: str | ComponentSelector) -> ComponentSelector:
    """A component selector from its name, or ``strategy`` itself if it has ``select``."""
    if isinstance(strategy, str):
        if strategy == "round_robin":
            return RoundRobinComponents()
        if strategy == "all":
            return AllComponents()
    elif callable(getattr(strategy, "select", None)):
        return strategy
    raise ValueError(f"unknown component selector {strategy!r}; valid names are "
                     f"{', '.join(COMPONENT_SELECTORS)}, or pass an object with a select() method")


# -- minibatches -----------------------------------------------------------------

class MinibatchSampler:
    """Reflection minibatches drawn epoch by epoch, without replacement, from the batch's number alone.

    Epoch ``e`` is a shuffle of the keys seeded by (``seed``, ``e``) and cut
    into consecutive batches, so every example is seen in every epoch and no
    example starves. When the keys do not divide evenly, the epoch's last
    batch is topped up with other keys of the same epoch (never repeating a
    key inside a batch). Batch ``i`` depends only on ``i``: a resumed run, or
    proposals planned on several threads, draw exactly what a single
    uninterrupted run would. Duplicate keys are collapsed; a ``size`` of at
    least the dataset's returns the whole dataset (in its given order).
    """

    def __init__(self, keys: Sequence[str], size: int, seed: int = 0) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"minibatch size must be a positive integer, got {size!r}")
        self.keys: tuple[str, ...] = tuple(dict.fromkeys(keys))
        self.size = size
        self.seed = seed
        self.per_epoch = -(-len(self.keys) // size) if self.keys else 1
        self._lock = threading.Lock()
        self._cached: tuple[int, list[str]] | None = None

    def batch(self, index: int) -> list[str]:
        if self.size >= len(self.keys):
            return list(self.keys)
        epoch, position = divmod(index, self.per_epoch)
        order = self._epoch(epoch)
        batch = order[position * self.size:(position + 1) * self.size]
        if len(batch) < self.size:
            taken = set(batch)
            batch += [k for k in order if k not in taken][: self.size - len(batch)]
        return batch

    def _epoch(self, epoch: int) -> list[str]:
        with self._lock:
            if self._cached is None or self._cached[0] != epoch:
                order = list(self.keys)
                random.Random(f"{self.seed}:epoch:{epoch}").shuffle(order)
                self._cached = (epoch, order)
            return self._cached[1]
