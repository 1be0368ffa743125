"""The result of a run: the best candidate, the pool, its lineage and its history.

Candidates are indexed by their position in ``candidates``: the pool of
accepted candidates in the order they were accepted, the seed first (GEPA's
indices). ``parents`` uses the same indices. Rejected children are not in the
pool; their text and the reflection that produced them stay in ``proposals``
and in the run store.

GEPA's result fields (``val_aggregate_scores``, ``val_subscores``,
``per_val_instance_best_candidates``, ...) are here with GEPA's meaning; a
validation example's id in them is its position in the valset.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ._gepa_view import PoolView, pool_view
from ._records import LMUsage, ProposalRecord

if TYPE_CHECKING:
    from ._engine import Engine


@dataclass(frozen=True)
class Result:
    best_candidate: str | dict[str, str] | None
    best_score: float | None
    best_idx: int | None
    candidates: list[str | dict[str, str]]
    candidate_ids: list[int]
    parents: list[list[int]]
    val_scores: list[float | None]
    per_example_scores: list[dict[str, float]]
    objective_scores: list[dict[str, float]]
    pareto_front: dict[str, Any]
    total_metric_calls: int
    #: Every proposal of this session, in the order they finished. After a run with a store that reads back
    #: (the default SQLite run store), a list view that reads each proposal from the store when used.
    proposals: Sequence[ProposalRecord]
    best_outputs: dict[str, list[tuple[int, Any]]] | None = None
    stop_reason: str | None = None
    lm_calls: int = 0
    lm_prompt_tokens: int = 0
    lm_completion_tokens: int = 0
    cost_usd: float = 0.0
    elapsed_s: float = 0.0
    worker_utilization: float = 0.0
    run_dir: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # -- GEPA's fields ------------------------------------------------------------------
    #: Mean validation score per candidate (-inf for one never scored).
    val_aggregate_scores: list[float] = field(default_factory=list)
    #: Per candidate, valset position -> score.
    val_subscores: list[dict[int, float]] = field(default_factory=list)
    #: Per valset position, the candidates with the best score there.
    per_val_instance_best_candidates: dict[int, set[int]] = field(default_factory=dict)
    #: Evaluator calls made before each candidate was accepted (0 for the seed).
    discovery_eval_counts: list[int] = field(default_factory=list)
    val_aggregate_subscores: list[dict[str, float]] | None = None
    per_objective_best_candidates: dict[str, set[int]] | None = None
    objective_pareto_front: dict[str, float] | None = None
    #: With ``track_best_outputs``: per valset position, (candidate, output) of the best candidates there.
    best_outputs_valset: dict[int, list[tuple[int, Any]]] | None = None
    num_full_val_evals: int | None = None
    seed: int | None = None
    best_refiner_prompt: str | None = None

    @property
    def num_candidates(self) -> int:
        return len(self.candidates)

    @property
    def num_val_instances(self) -> int:
        return len(self.per_val_instance_best_candidates)

    @property
    def accepted_proposals(self) -> list[ProposalRecord]:
        """Proposals whose child entered the pool (it won its minibatch, then its validation race)."""
        pool = set(self.candidate_ids)
        return [p for p in self.proposals if p.accepted and p.child_id in pool]

    @property
    def rejected_proposals(self) -> list[ProposalRecord]:
        pool = set(self.candidate_ids)
        return [p for p in self.proposals if not (p.accepted and p.child_id in pool)]

    def candidate_tree_dot(self) -> str:
        """The lineage as a Graphviz DOT digraph (best in gold, frontier in blue)."""
        from ._tree import candidate_tree_dot

        return candidate_tree_dot(self.parents, self.val_aggregate_scores or self.val_scores, self.best_idx,
                                  self._front())

    def candidate_tree_html(self) -> str:
        """The lineage as a self-contained HTML page (no scripts; candidate text escaped)."""
        from ._tree import candidate_tree_html

        return candidate_tree_html(self.candidates, self.parents, self.val_aggregate_scores or self.val_scores,
                                   self.best_idx, self._front())

    def _front(self) -> set[int]:
        return {i for ids in self.per_val_instance_best_candidates.values() for i in ids}

    @classmethod
    def build(cls, engine: Engine) -> Result:
        board = engine.board
        view = pool_view(board)
        pool = view.ids
        index = {cid: i for i, cid in enumerate(pool)}
        to_user = engine.problem.adapter.user_candidate
        best_id = board.best_id()
        status = engine.status()
        has_objectives = any(view.val_aggregate_subscores)
        usage = engine.lm.usage()
        return cls(
            best_candidate=None if best_id is None else to_user(board.candidate(best_id).components),
            best_score=None if best_id is None else board.val_mean(best_id),
            best_idx=None if best_id is None else index[best_id],
            candidates=[to_user(board.candidate(cid).components) for cid in pool],
            candidate_ids=pool,
            parents=[[index[p] for p in board.candidate(cid).parents if p in index] for cid in pool],
            val_scores=[board.val_mean(cid) for cid in pool],
            per_example_scores=[board.val_scores(cid) for cid in pool],
            objective_scores=view.val_aggregate_subscores,
            pareto_front=_front_dict(board, index),
            total_metric_calls=engine.budget.spent,
            proposals=engine.proposal_history(),
            best_outputs=_best_outputs(board, pool) if engine.config.engine.track_best_outputs else None,
            stop_reason=engine.stop_reason,
            lm_calls=usage.calls,
            lm_prompt_tokens=usage.prompt_tokens,
            lm_completion_tokens=usage.completion_tokens,
            cost_usd=status.cost_usd,
            elapsed_s=status.elapsed_s,
            worker_utilization=engine.utilization(),
            run_dir=getattr(engine.store, "run_dir", None),
            val_aggregate_scores=view.val_aggregate_scores,
            val_subscores=view.val_subscores,
            per_val_instance_best_candidates=view.per_val_instance_best_candidates,
            discovery_eval_counts=view.discovery_eval_counts,
            val_aggregate_subscores=view.val_aggregate_subscores if has_objectives else None,
            per_objective_best_candidates=view.per_objective_best_candidates or None,
            objective_pareto_front=view.objective_pareto_front or None,
            best_outputs_valset=(_best_outputs_valset(board, view) if engine.config.engine.track_best_outputs
                                 else None),
            num_full_val_evals=view.num_full_val_evals,
            seed=engine.config.engine.seed,
            best_refiner_prompt=(None if best_id is None
                                 else board.candidate(best_id).components.get("refiner_prompt")),
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(dataclasses.replace(self, proposals=()))  # the proposals once, read as they are converted
        data["proposals"] = [p.to_dict() for p in self.proposals]
        jsonable: dict[str, Any] = _jsonable(data)
        return jsonable

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        """A result from ``to_dict()`` (or its JSON), or from GEPA's ``GEPAResult.to_dict()``."""
        if "best_candidate" not in data and "val_aggregate_scores" in data:
            data = _from_gepa(data)
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        kwargs["proposals"] = [_proposal(p) for p in data.get("proposals") or []]
        for name in ("val_subscores",):
            kwargs[name] = [_int_keys(d) for d in data.get(name) or []]
        kwargs["per_val_instance_best_candidates"] = {
            k: set(v) for k, v in _int_keys(data.get("per_val_instance_best_candidates") or {}).items()}
        if data.get("per_objective_best_candidates") is not None:
            kwargs["per_objective_best_candidates"] = {k: set(v) for k, v in
                                                       data["per_objective_best_candidates"].items()}
        if data.get("best_outputs_valset") is not None:
            kwargs["best_outputs_valset"] = {k: [tuple(p) for p in v] for k, v in
                                             _int_keys(data["best_outputs_valset"]).items()}
        if data.get("best_outputs") is not None:
            kwargs["best_outputs"] = {k: [tuple(p) for p in v] for k, v in data["best_outputs"].items()}
        kwargs["val_aggregate_scores"] = [_score(s) for s in data.get("val_aggregate_scores") or []]
        missing = [f.name for f in dataclasses.fields(cls)
                   if f.name not in kwargs and f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING]
        if missing:
            raise ValueError(f"Result.from_dict: the dict lacks {', '.join(missing)}; pass what Result.to_dict() "
                             "or GEPAResult.to_dict() returned")
        return cls(**kwargs)


GEPAResult = Result  # GEPA's name


def _from_gepa(data: dict[str, Any]) -> dict[str, Any]:
    """GEPA's result dict, completed with the fields honing's Result has and GEPA's lacks."""
    scores = [_score(s) for s in data.get("val_aggregate_scores") or []]
    best = data.get("best_idx")
    if best is None and scores:
        best = max(range(len(scores)), key=lambda i: scores[i])
    key = data.get("_str_candidate_key")
    candidates = [c[key] if key is not None and key in c else dict(c) for c in data.get("candidates") or []]
    subscores = data.get("val_subscores") or []
    return {
        **data, "best_idx": best, "candidates": candidates,
        "best_candidate": candidates[best] if best is not None else None,
        "best_score": scores[best] if best is not None else None,
        "candidate_ids": list(range(len(candidates))),
        "parents": [[p for p in ps if p is not None] for ps in data.get("parents") or []],
        "val_scores": [None if s == float("-inf") else s for s in scores],
        "per_example_scores": [{str(k): v for k, v in s.items()} for s in subscores],
        "objective_scores": data.get("val_aggregate_subscores") or [{} for _ in candidates],
        "pareto_front": {}, "total_metric_calls": data.get("total_metric_calls") or 0,
    }


def _proposal(data: Any) -> ProposalRecord:
    if isinstance(data, ProposalRecord):
        return data
    values = dict(data)
    values["usage"] = LMUsage(**dict(values.get("usage") or {}))
    for name in ("parent_ids", "components", "minibatch_keys"):
        values[name] = tuple(values.get(name) or ())
    return ProposalRecord(**values)


def _int_keys(mapping: dict[Any, Any]) -> dict[Any, Any]:
    """JSON turns GEPA's integer valset ids into strings; turn them back."""
    return {int(k) if isinstance(k, str) and k.lstrip("-").isdigit() else k: v for k, v in mapping.items()}


def _score(value: Any) -> float:
    return float("-inf") if value is None else float(value)


def _best_outputs(board: Any, pool: list[int]) -> dict[str, list[tuple[int, Any]]]:
    index = {cid: i for i, cid in enumerate(pool)}
    found = {}
    for key in dict.fromkeys(board.val_keys):
        scored = [(board.evaluation(cid, key), cid) for cid in pool]
        scored = [(e, cid) for e, cid in scored if e is not None]
        if scored:
            top = max(e.score for e, _ in scored)
            found[key] = [(index[cid], e.output) for e, cid in scored if e.score == top]
    return found


def _best_outputs_valset(board: Any, view: PoolView) -> dict[int, list[tuple[int, Any]]]:
    by_key = _best_outputs(board, view.ids)
    return {position: list(by_key[key]) for key, positions in view.val_positions.items() if key in by_key
            for position in positions}


def _front_dict(board: Any, index: dict[int, int]) -> dict[str, Any]:
    front = board.front
    return {
        "leaders": {key: sorted(index[c] for c in ids if c in index) for key, ids in front.leaders.items()},
        "best": dict(front.best),
        "members": sorted(index[c] for c in front.members() if c in index),
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [_jsonable(v) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return sorted(items, key=repr)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    to_data_url = getattr(value, "to_data_url", None)
    if callable(to_data_url):
        return {"image": to_data_url()}
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    return repr(value)
