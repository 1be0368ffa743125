"""GEPA-style callbacks and stop callbacks on a honing run.

A GEPA callback is an object with some of ``on_optimization_start``,
``on_iteration_end``, ``on_candidate_accepted``, ... each taking one event
dict. ``GEPACallbackBridge`` turns honing's events into those dicts, with
GEPA's field names and indices (see ``_gepa_view``). honing runs proposals
concurrently, so one proposal's GEPA events (iteration start, parent
selected, minibatch, proposal, accepted or rejected, iteration end) are
delivered together when the proposal finishes, in GEPA's order; iterations
are numbered in the order proposals finish.

A stop callback receives a ``GEPAState``: honing's ``RunStatus`` that also
answers GEPA's names (``total_num_evals``, ``i``, ...), so stoppers written
for either library work. Unlike GEPA, a callback that raises stops the run
and the exception is re-raised: it is never swallowed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._callbacks import EVENTS as HONING_EVENTS
from ._gepa_view import GEPAState

GEPA_EVENTS = (
    "on_optimization_start", "on_optimization_end", "on_iteration_start", "on_iteration_end",
    "on_candidate_selected", "on_minibatch_sampled", "on_evaluation_start", "on_evaluation_end",
    "on_evaluation_skipped", "on_valset_evaluated", "on_reflective_dataset_built", "on_proposal_start",
    "on_proposal_end", "on_candidate_accepted", "on_candidate_rejected", "on_merge_attempted",
    "on_merge_accepted", "on_merge_rejected", "on_pareto_front_updated", "on_state_saved",
    "on_budget_updated", "on_error",
)


class RunLink:
    """Gives wrappers built before the engine access to it once it exists."""

    def __init__(self) -> None:
        self.engine: Any = None

    def state(self, status: Any = None) -> GEPAState:
        engine = self.engine
        return GEPAState.of(status if status is not None else engine.status(), engine.board,
                            engine.config.engine.frontier_type)


class _Indices:
    """GEPA's indices for the pool as it is now: cheap, so events never rebuild the whole view."""

    def __init__(self, board: Any) -> None:
        self.board = board
        self.of = {cid: i for i, cid in enumerate(board.pool)}

    def parents(self, candidate_id: int) -> list[int]:
        return [self.of[p] for p in self.board.candidate(candidate_id).parents if p in self.of]

    def mean(self, candidate_id: int) -> float:
        mean = self.board.val_mean(candidate_id)
        return float("-inf") if mean is None else mean


def is_gepa_callback(obj: Any) -> bool:
    return any(callable(getattr(obj, name, None)) for name in GEPA_EVENTS)


class GEPAStopper:
    """A user stop callback, called with a ``GEPAState`` instead of the bare ``RunStatus``."""

    def __init__(self, fn: Callable[[Any], Any], link: RunLink) -> None:
        self.fn = fn
        self.link = link
        self.__name__ = getattr(fn, "__name__", None) or type(fn).__name__
        self.__qualname__ = getattr(fn, "__qualname__", None) or type(fn).__qualname__

    def __call__(self, status: Any) -> bool:
        return bool(self.fn(self.link.state(status)))


class GEPACallbackBridge:
    """Delivers honing's events to a GEPA-style callback object (and its honing methods, if any)."""

    def __init__(self, target: Any, link: RunLink) -> None:
        self.target = target
        self.link = link
        self.__qualname__ = type(target).__qualname__
        self._iteration = 0
        self._front: set[int] = set()
        self._reported: set[int] = set()

    # -- honing's events -------------------------------------------------------------------
    def on_start(self, status: Any) -> None:
        self._honing("on_start", status)
        problem = self.link.engine.problem
        self._emit("on_optimization_start", seed_candidate=dict(problem.seed_components or {}),
                   trainset_size=len(problem.train), valset_size=len(problem.val),
                   config=self.link.engine.config.to_dict())

    def on_evaluation(self, record: Any) -> None:
        self._honing("on_evaluation", record)
        budget = self.link.engine.budget
        used, limit = budget.spent, budget.limit
        self._emit("on_budget_updated", iteration=self._iteration, metric_calls_used=used, metric_calls_delta=1,
                   metric_calls_remaining=None if limit is None else limit - used)
        self._maybe_valset_evaluated(record.candidate_id)

    def on_frontier_change(self, front: Any) -> None:
        self._honing("on_frontier_change", front)
        self._front_changed(front)

    def on_proposal(self, record: Any) -> None:
        self._honing("on_proposal", record)
        if record.kind == "seed_generation":
            return
        self._iteration += 1
        view = _Indices(self.link.engine.board)
        state = self.link.state()
        self._emit("on_iteration_start", iteration=self._iteration, state=state,
                   trainset_loader=list(self.link.engine.problem.train.values()))
        if record.error:
            from .llm._base import LMError

            self._emit("on_error", iteration=self._iteration, exception=LMError(record.error), will_continue=True)
        elif record.kind == "merge":
            self._merge_events(record, view)
        else:
            self._reflection_events(record, view)
        run_dir = getattr(self.link.engine.store, "run_dir", None)
        self._emit("on_state_saved", iteration=self._iteration, run_dir=run_dir)
        self._emit("on_iteration_end", iteration=self._iteration, state=state, proposal_accepted=bool(record.accepted))

    def on_accept(self, record: Any) -> None:
        self._honing("on_accept", record)

    def on_reject(self, record: Any) -> None:
        self._honing("on_reject", record)

    def on_end(self, result: Any) -> None:
        self._honing("on_end", result)
        self._emit("on_optimization_end", best_candidate_idx=result.best_idx, total_iterations=self._iteration,
                   total_metric_calls=result.total_metric_calls, final_state=self.link.state())

    # -- GEPA's per-iteration events ---------------------------------------------------------
    def _reflection_events(self, record: Any, view: _Indices) -> None:
        it = self._iteration
        board = self.link.engine.board
        parent_id = record.parent_ids[0]
        parent = board.candidate(parent_id)
        parent_idx = view.of.get(parent_id)
        train_keys = list(self.link.engine.problem.train)
        keys = list(record.minibatch_keys)
        evals = [board.evaluation(parent_id, k) for k in keys]
        evals = [e for e in evals if e is not None]
        self._emit("on_candidate_selected", iteration=it, candidate_idx=parent_idx,
                   candidate=dict(parent.components),
                   score=view.mean(parent_id))
        self._emit("on_minibatch_sampled", iteration=it, minibatch_ids=[train_keys.index(k) for k in keys
                                                                        if k in train_keys],
                   trainset_size=len(train_keys))
        parents_of_parent = view.parents(parent_id)
        self._emit("on_evaluation_start", iteration=it, candidate_idx=parent_idx, batch_size=len(keys),
                   capture_traces=True, parent_ids=parents_of_parent,
                   inputs=[self.link.engine.problem.train.get(k) for k in keys], is_seed_candidate=parent_idx == 0)
        self._emit("on_evaluation_end", iteration=it, candidate_idx=parent_idx, scores=[e.score for e in evals],
                   has_trajectories=bool(evals), parent_ids=parents_of_parent, outputs=[e.output for e in evals],
                   trajectories=[dict(e.side_info) for e in evals],
                   objective_scores=[dict(e.objective_scores) for e in evals], is_seed_candidate=parent_idx == 0)
        if record.reply is None:  # the LM was not asked: a perfect parent, or the budget or run ended first
            if "perfect" in record.reason:
                self._emit("on_evaluation_skipped", iteration=it, candidate_idx=parent_idx,
                           reason="all_scores_perfect", scores=[e.score for e in evals],
                           is_seed_candidate=parent_idx == 0)
            return
        dataset = {c: [_reflective_row(e) for e in evals] for c in record.components}
        self._emit("on_reflective_dataset_built", iteration=it, candidate_idx=parent_idx,
                   components=list(record.components), dataset=dataset)
        self._emit("on_proposal_start", iteration=it, parent_candidate=dict(parent.components),
                   components=list(record.components), reflective_dataset=dataset)
        child = self.link.engine.candidate(record.child_id).components if record.child_id is not None else {}
        prompts = record.prompt if len(record.components) > 1 and isinstance(record.prompt, list) else [record.prompt]
        self._emit("on_proposal_end", iteration=it,
                   new_instructions={c: child[c] for c in record.components if c in child},
                   prompts={c: p for c, p in zip(record.components, prompts)},
                   raw_lm_outputs={c: record.reply for c in record.components})
        self._verdict(record, view)

    def _merge_events(self, record: Any, view: _Indices) -> None:
        parents = [view.of.get(p) for p in record.parent_ids]
        child = self.link.engine.candidate(record.child_id).components if record.child_id is not None else {}
        self._emit("on_merge_attempted", iteration=self._iteration, parent_ids=parents, merged_candidate=dict(child))
        if record.accepted:
            self._emit("on_merge_accepted", iteration=self._iteration, new_candidate_idx=view.of.get(record.child_id),
                       parent_ids=parents)
        else:
            self._emit("on_merge_rejected", iteration=self._iteration, parent_ids=parents, reason=record.reason)
        self._verdict(record, view)

    def _verdict(self, record: Any, view: _Indices) -> None:
        if record.accepted:  # a child scored on the whole valset already is admitted without new evaluations
            self._maybe_valset_evaluated(record.child_id)
            self._front_changed(self.link.engine.board.front)
            view = _Indices(self.link.engine.board)
            self._emit("on_candidate_accepted", iteration=self._iteration,
                       new_candidate_idx=view.of.get(record.child_id),
                       new_score=record.child_score, parent_ids=[view.of.get(p) for p in record.parent_ids])
        elif record.kind != "merge":
            self._emit("on_candidate_rejected", iteration=self._iteration, old_score=record.parent_score,
                       new_score=record.child_score, reason=record.reason)

    def _front_changed(self, front: Any) -> None:
        index = _Indices(self.link.engine.board).of
        members = {index[c] for c in front.members() if c in index}
        if members == self._front:
            return
        displaced, self._front = sorted(self._front - members), members
        self._emit("on_pareto_front_updated", iteration=self._iteration, new_front=sorted(members),
                   displaced_candidates=displaced)

    def _maybe_valset_evaluated(self, candidate_id: int) -> None:
        board = self.link.engine.board
        if candidate_id not in self._reported and candidate_id in board.pool \
                and board.coverage(candidate_id) == len(set(board.val_keys)):
            self._reported.add(candidate_id)
            self._valset_evaluated(candidate_id)

    def _valset_evaluated(self, candidate_id: int) -> None:
        board = self.link.engine.board
        view = _Indices(board)
        scores, outputs = {}, {}
        for position, key in enumerate(board.val_keys):
            record = board.evaluation(candidate_id, key)
            if record is not None:
                scores[position], outputs[position] = record.score, record.output
        self._emit("on_valset_evaluated", iteration=self._iteration, candidate_idx=view.of[candidate_id],
                   candidate=dict(board.candidate(candidate_id).components), scores_by_val_id=scores,
                   average_score=view.mean(candidate_id), num_examples_evaluated=len(scores),
                   total_valset_size=len(board.val_keys), parent_ids=view.parents(candidate_id),
                   is_best_program=board.best_id() == candidate_id, outputs_by_val_id=outputs)

    # -- delivery ---------------------------------------------------------------------------
    def _emit(self, method: str, **event: Any) -> None:
        handler = getattr(self.target, method, None)
        if callable(handler):
            handler(event)

    def _honing(self, method: str, payload: Any) -> None:
        handler = getattr(self.target, method, None)
        if callable(handler):
            handler(payload)


def _reflective_row(record: Any) -> dict[str, Any]:
    """One example's side info as GEPA's reflective dataset shows it."""
    row = {k: v for k, v in (record.side_info or {}).items() if k != "scores" and not str(k).endswith("_specific_info")}
    if "scores" in (record.side_info or {}):
        row["Scores (Higher is Better)"] = record.side_info["scores"]
    return row


def adapt_callbacks(callbacks: tuple[Any, ...], stoppers: tuple[Any, ...], link: RunLink
                    ) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """GEPA-style callbacks bridged, every stop callback handed a ``GEPAState``."""
    bridged = tuple(GEPACallbackBridge(cb, link) if is_gepa_callback(cb) else cb for cb in callbacks)
    return bridged, tuple(GEPAStopper(s, link) for s in stoppers)


__all__ = ["GEPA_EVENTS", "HONING_EVENTS", "GEPACallbackBridge", "GEPAStopper", "RunLink", "adapt_callbacks"]
