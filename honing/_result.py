"""The result of a run: the best candidate, the pool, its lineage and its history.

Candidates are indexed by their position in ``candidates`` (the pool of
accepted candidates, the seed first); ``parents`` uses the same indices.
Rejected children are not in the pool; their text and the reflection that
produced them stay in ``proposals`` and in the run store.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ._records import ProposalRecord

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
    proposals: list[ProposalRecord]
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

    @property
    def num_candidates(self) -> int:
        return len(self.candidates)

    @property
    def accepted_proposals(self) -> list[ProposalRecord]:
        return [p for p in self.proposals if p.accepted]

    @property
    def rejected_proposals(self) -> list[ProposalRecord]:
        return [p for p in self.proposals if not p.accepted]

    @classmethod
    def build(cls, engine: Engine) -> Result:
        board = engine.board
        pool = sorted(board.pool)
        index = {cid: i for i, cid in enumerate(pool)}
        to_user = engine.problem.adapter.user_candidate
        best_id = board.best_id()
        per_example = [board.val_scores(cid) for cid in pool]
        objective_scores = []
        for cid in pool:
            sums: dict[str, list[float]] = {}
            for scores in board.val_objective_scores(cid).values():
                for name, value in scores.items():
                    sums.setdefault(name, []).append(value)
            objective_scores.append({name: sum(v) / len(v) for name, v in sums.items()})
        best_outputs = None
        if engine.config.engine.track_best_outputs:
            best_outputs = {}
            for key in board.val_keys:
                scored = [(board.evaluation(cid, key), cid) for cid in pool]
                scored = [(e, cid) for e, cid in scored if e is not None]
                if scored:
                    top = max(e.score for e, _ in scored)
                    best_outputs[key] = [(index[cid], e.output) for e, cid in scored if e.score == top]
        status = engine.status()
        return cls(
            best_candidate=None if best_id is None else to_user(board.candidate(best_id).components),
            best_score=None if best_id is None else board.val_mean(best_id),
            best_idx=None if best_id is None else index[best_id],
            candidates=[to_user(board.candidate(cid).components) for cid in pool],
            candidate_ids=pool,
            parents=[[index[p] for p in board.candidate(cid).parents if p in index] for cid in pool],
            val_scores=[board.val_mean(cid) for cid in pool],
            per_example_scores=per_example,
            objective_scores=objective_scores,
            pareto_front=_front_dict(board, index),
            total_metric_calls=engine.budget.spent,
            proposals=list(engine.proposals),
            best_outputs=best_outputs,
            stop_reason=engine.stop_reason,
            lm_calls=engine._lm_calls,
            lm_prompt_tokens=engine.lm_tokens[0],
            lm_completion_tokens=engine.lm_tokens[1],
            cost_usd=status.cost_usd,
            elapsed_s=status.elapsed_s,
            worker_utilization=engine.utilization(),
            run_dir=getattr(engine.store, "run_dir", None),
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["proposals"] = [p.to_dict() for p in self.proposals]
        return _jsonable(data)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)


def _front_dict(board, index: dict[int, int]) -> dict[str, Any]:
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
    if isinstance(value, float) and value != value:
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
