"""Stop conditions.

A stopper is any callable ``(status: RunStatus) -> bool``; returning True ends
the run cleanly (proposals in flight finish, the best so far is returned).
The built-in ones below are built from ``EngineConfig`` fields; user stoppers
come from ``Config.stop_callbacks``. The evaluation budget is not a stopper:
it is enforced at every evaluator call (see ``_budget``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._config import EngineConfig


@dataclass(frozen=True)
class RunStatus:
    """A snapshot of a run's progress, handed to stoppers and callbacks."""

    metric_calls: int
    max_metric_calls: int | None
    proposals: int
    accepted: int
    in_flight: int  # proposals started but not finished
    best_score: float | None
    elapsed_s: float
    cost_usd: float
    proposals_since_improvement: int


Stopper = Callable[[RunStatus], bool]


@dataclass(frozen=True)
class MaxProposals:
    limit: int

    def __call__(self, status: RunStatus) -> bool:
        return status.proposals + status.in_flight >= self.limit


@dataclass(frozen=True)
class Timeout:
    seconds: float

    def __call__(self, status: RunStatus) -> bool:
        return status.elapsed_s >= self.seconds


@dataclass(frozen=True)
class ScoreThreshold:
    threshold: float

    def __call__(self, status: RunStatus) -> bool:
        return status.best_score is not None and status.best_score >= self.threshold


@dataclass(frozen=True)
class NoImprovement:
    patience: int

    def __call__(self, status: RunStatus) -> bool:
        return status.proposals_since_improvement >= self.patience


@dataclass(frozen=True)
class StopFile:
    path: str

    def __call__(self, status: RunStatus) -> bool:
        return os.path.exists(self.path)


@dataclass(frozen=True)
class CostCeiling:
    max_usd: float

    def __call__(self, status: RunStatus) -> bool:
        return status.cost_usd >= self.max_usd


#: The stop conditions that end the run at once, in-flight work included (the engine adds its own reasons).
URGENT_STOPS = frozenset({"timeout", "stop_file"})


def stoppers_from_config(engine: EngineConfig, extra: tuple[Stopper, ...]) -> list[tuple[str, Stopper]]:
    """The named stop conditions a run checks, built-in ones first."""
    found: list[tuple[str, Stopper]] = []
    if engine.max_candidate_proposals is not None:
        found.append(("max_candidate_proposals", MaxProposals(engine.max_candidate_proposals)))
    if engine.timeout_s is not None:
        found.append(("timeout", Timeout(engine.timeout_s)))
    if engine.score_threshold is not None:
        found.append(("score_threshold", ScoreThreshold(engine.score_threshold)))
    if engine.max_proposals_without_improvement is not None:
        found.append(("no_improvement", NoImprovement(engine.max_proposals_without_improvement)))
    if engine.stop_file is not None:
        found.append(("stop_file", StopFile(engine.stop_file)))
    if engine.max_cost_usd is not None:
        found.append(("max_cost_usd", CostCeiling(engine.max_cost_usd)))
    for stopper in extra:
        found.append((getattr(stopper, "__name__", type(stopper).__name__), stopper))
    return found
