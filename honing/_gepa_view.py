"""The pool as GEPA shapes it: per-candidate lists indexed like GEPA's, and its run state.

GEPA's result fields and the ``GEPAState`` its stop callbacks and callbacks
read are views of the same facts honing keeps in its ``ScoreBoard``. They are
derived here, once, from the board's public methods, for both ``Result`` and
the live state handed to GEPA-style stoppers and callbacks.

Indices follow GEPA's: a candidate's index is its position in the pool in
the order candidates were accepted (the seed is 0), and a validation
example's id is its position in the valset.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ._stopping import RunStatus


@dataclass(frozen=True)
class PoolView:
    """GEPA's per-candidate data for the pool, in acceptance order."""

    ids: list[int]
    candidates: list[dict[str, str]]
    parents: list[list[int | None]]
    val_subscores: list[dict[int, float]]
    val_aggregate_scores: list[float]
    per_val_instance_best_candidates: dict[int, set[int]]
    pareto_front_valset: dict[int, float]
    val_aggregate_subscores: list[dict[str, float]]
    per_objective_best_candidates: dict[str, set[int]]
    objective_pareto_front: dict[str, float]
    num_full_val_evals: int
    val_positions: dict[str, list[int]] = field(default_factory=dict)  # example key -> its valset positions
    board: Any = field(default=None, repr=False, compare=False)

    @property
    def discovery_eval_counts(self) -> list[int]:
        """Evaluations recorded before each candidate won its minibatch (0 for the seed)."""
        return [self.board.discovered(cid) for cid in self.ids]

    def index(self, candidate_id: int) -> int | None:
        try:
            return self.ids.index(candidate_id)
        except ValueError:
            return None


def pool_view(board: Any) -> PoolView:
    """GEPA's view of ``board``'s pool."""
    ids = list(board.pool)
    index = {cid: i for i, cid in enumerate(ids)}
    positions: dict[str, list[int]] = {}
    for position, key in enumerate(board.val_keys):
        positions.setdefault(key, []).append(position)
    records = [board.candidate(cid) for cid in ids]
    subscores = []
    for cid in ids:
        by_key = board.val_scores(cid)
        subscores.append({p: by_key[k] for k, ps in positions.items() if k in by_key for p in ps})
    aggregates = [sum(s.values()) / len(s) if s else float("-inf") for s in subscores]
    best_value, best_at = _leaders({p: {i: s[p] for i, s in enumerate(subscores) if p in s}
                                    for p in range(len(board.val_keys))})
    objectives = [_objective_means(board.val_objective_scores(cid)) for cid in ids]
    objective_value, objective_at = _leaders(_by_name(objectives))
    return PoolView(
        ids=ids,
        candidates=[dict(r.components) for r in records],
        parents=[[index[p] for p in r.parents if p in index] or [None] for r in records],
        val_subscores=subscores,
        val_aggregate_scores=aggregates,
        per_val_instance_best_candidates=best_at,
        pareto_front_valset=best_value,
        val_aggregate_subscores=objectives,
        per_objective_best_candidates=objective_at,
        objective_pareto_front=objective_value,
        num_full_val_evals=sum(1 for s in subscores if len(s) == len(board.val_keys)),
        val_positions=positions, board=board,
    )


def _objective_means(per_example: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    sums: dict[str, list[float]] = {}
    for scores in per_example.values():
        for name, value in scores.items():
            sums.setdefault(name, []).append(value)
    return {name: sum(values) / len(values) for name, values in sums.items()}


def _by_name(rows: list[dict[str, float]]) -> dict[str, dict[int, float]]:
    columns: dict[str, dict[int, float]] = {}
    for i, row in enumerate(rows):
        for name, value in row.items():
            columns.setdefault(name, {})[i] = value
    return columns


def _leaders(columns: Mapping[Any, Mapping[int, float]]) -> tuple[dict[Any, float], dict[Any, set[int]]]:
    """Per coordinate, the best value and the candidates reaching it (as GEPA's fronts hold them)."""
    best: dict[Any, float] = {}
    at: dict[Any, set[int]] = {}
    for coordinate, values in columns.items():
        if values:
            top = max(values.values())
            best[coordinate] = top
            at[coordinate] = {i for i, v in values.items() if v == top}
    return best, at


@dataclass(frozen=True)
class GEPAState(RunStatus):
    """The status honing hands to stop callbacks, readable as GEPA's ``GEPAState`` too.

    honing's fields (``metric_calls``, ``best_score``, ...) are there as
    usual; GEPA's names (``total_num_evals``, ``i``,
    ``program_full_scores_val_set``, ...) are computed from the run's board
    on first access.
    """

    board: Any = field(default=None, repr=False, compare=False)
    frontier_type: str = "hybrid"

    @classmethod
    def of(cls, status: RunStatus, board: Any, frontier_type: str) -> GEPAState:
        values = {f.name: getattr(status, f.name) for f in dataclasses.fields(status)}
        return cls(**values, board=board, frontier_type=frontier_type)

    @cached_property
    def _view(self) -> PoolView:
        return pool_view(self.board)

    def __getattr__(self, name: str) -> Any:  # only for names neither honing's status nor this view has
        if name.startswith("_"):
            raise AttributeError(name)
        offered = sorted(n for n in dir(type(self)) if not n.startswith("_") and n not in ("of",))
        raise AttributeError(f"honing's GEPAState has no {name!r}; it offers GEPA's {', '.join(offered)}")

    # GEPA's counters
    @property
    def total_num_evals(self) -> int:
        return self.metric_calls

    @property
    def i(self) -> int:
        """GEPA's iteration counter: iterations started so far, minus one."""
        return self.proposals + self.in_flight - 1

    @property
    def num_full_ds_evals(self) -> int:
        return self._view.num_full_val_evals

    # GEPA's per-candidate lists
    @property
    def program_candidates(self) -> list[dict[str, str]]:
        return self._view.candidates

    @property
    def parent_program_for_candidate(self) -> list[list[int | None]]:
        return self._view.parents

    @property
    def prog_candidate_val_subscores(self) -> list[dict[int, float]]:
        return self._view.val_subscores

    @property
    def program_full_scores_val_set(self) -> list[float]:
        return self._view.val_aggregate_scores

    @property
    def per_program_tracked_scores(self) -> list[float]:
        return self._view.val_aggregate_scores

    @property
    def prog_candidate_objective_scores(self) -> list[dict[str, float]]:
        return self._view.val_aggregate_subscores

    @property
    def num_metric_calls_by_discovery(self) -> list[int]:
        return self._view.discovery_eval_counts

    # GEPA's fronts
    @property
    def pareto_front_valset(self) -> dict[int, float]:
        return self._view.pareto_front_valset

    @property
    def program_at_pareto_front_valset(self) -> dict[int, set[int]]:
        return self._view.per_val_instance_best_candidates

    @property
    def objective_pareto_front(self) -> dict[str, float]:
        return self._view.objective_pareto_front

    @property
    def program_at_pareto_front_objectives(self) -> dict[str, set[int]]:
        return self._view.per_objective_best_candidates

    def get_program_average_val_subset(self, program_idx: int) -> tuple[float, int]:
        scores = self._view.val_subscores[program_idx]
        return (sum(scores.values()) / len(scores), len(scores)) if scores else (float("-inf"), 0)

    @property
    def valset_evaluations(self) -> dict[int, list[int]]:
        found: dict[int, list[int]] = {}
        for program, scores in enumerate(self._view.val_subscores):
            for position in scores:
                found.setdefault(position, []).append(program)
        return found

    def get_pareto_front_mapping(self) -> dict[Any, set[int]]:
        """GEPA's frontier key -> candidate indices, for this run's ``frontier_type``."""
        view = self._view
        instance = {p: set(c) for p, c in view.per_val_instance_best_candidates.items()}
        objective = {o: set(c) for o, c in view.per_objective_best_candidates.items()}
        if self.frontier_type == "instance":
            return dict(instance)
        if self.frontier_type == "objective":
            return dict(objective)
        if self.frontier_type == "cartesian":
            return self._cartesian()
        combined: dict[Any, set[int]] = {("val_id", p): c for p, c in instance.items()}
        combined.update({("objective", o): c for o, c in objective.items()})
        return combined

    def _cartesian(self) -> dict[Any, set[int]]:
        columns: dict[Any, dict[int, float]] = {}
        for program, cid in enumerate(self._view.ids):
            for key, scores in self.board.val_objective_scores(cid).items():
                for position in self._view.val_positions.get(key, ()):
                    for name, value in scores.items():
                        columns.setdefault(("cartesian", position, name), {})[program] = value
        return _leaders(columns)[1]
