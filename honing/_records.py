"""Immutable records of what happened in a run.

A run is an append-only log of three kinds of facts: candidates (with their
lineage), evaluations (one candidate on one example) and proposals (one LLM
reflection or merge, accepted or not). Everything else -- frontiers, the best
candidate, the budget used -- is derived from these records, so a store only
has to persist them to make a run resumable and inspectable.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

SINGLE_TASK_KEY = "__single__"

#: How a candidate came to exist.
Origin = Literal["seed", "generated", "reflection", "merge", "refined"]
#: Which set an evaluated example belongs to ("single": the one task of single-task mode).
Split = Literal["train", "val", "single"]
#: What a proposal was.
ProposalKind = Literal["reflection", "merge", "seed_generation"]


@dataclass(frozen=True, slots=True)
class CandidateRecord:
    id: int
    components: dict[str, str]
    parents: tuple[int, ...] = ()
    origin: Origin = "seed"
    proposal_id: int | None = None
    created_at: float = 0.0

    @property
    def content_hash(self) -> str:
        return candidate_hash(self.components)


@dataclass(frozen=True, slots=True)
class EvaluationRecord:
    candidate_id: int
    example_key: str
    split: Split
    score: float
    objective_scores: dict[str, float] = field(default_factory=dict)
    side_info: dict[str, Any] = field(default_factory=dict)
    output: Any = None
    duration_s: float = 0.0
    error: str | None = None
    created_at: float = 0.0

    @property
    def failed(self) -> bool:
        return self.error is not None


@dataclass(frozen=True, slots=True)
class LMUsage:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    duration_s: float = 0.0
    model: str | None = None


@dataclass(frozen=True, slots=True)
class ProposalRecord:
    """One reflection or merge and its minibatch verdict.

    ``accepted`` means the child beat its parent on the minibatch. Whether it
    then earned a place in the pool is a separate, later fact: its
    ``AdmissionRecord`` (written when its validation race ends).
    """

    id: int
    kind: ProposalKind
    parent_ids: tuple[int, ...]
    components: tuple[str, ...]
    prompt: Any  # the messages sent to the LM (None for merges)
    reply: str | None
    child_id: int | None
    accepted: bool
    reason: str
    parent_score: float | None = None
    child_score: float | None = None
    minibatch_keys: tuple[str, ...] = ()
    usage: LMUsage = field(default_factory=LMUsage)
    error: str | None = None
    created_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class AdmissionRecord:
    """Whether a candidate that won its minibatch earned a place in the pool, after its validation race.

    ``val_evaluated`` is how many validation examples it was scored on before
    the verdict: all of them when admitted, fewer when it was raced out early.
    """

    candidate_id: int
    proposal_id: int | None
    admitted: bool
    reason: str
    val_evaluated: int = 0
    created_at: float = 0.0


def canonical_bytes(value: Any) -> bytes:
    """A stable byte form of a value, for content hashing across processes."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_json_default).encode()
    except (TypeError, ValueError):
        pass
    try:
        return pickle.dumps(value, protocol=4)
    except Exception:
        return repr(value).encode()


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if isinstance(value, bytes):
        return value.hex()
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    raise TypeError(type(value).__name__)


def content_key(value: Any) -> str:
    return hashlib.sha256(canonical_bytes(value)).hexdigest()[:32]


def candidate_hash(components: dict[str, str]) -> str:
    return content_key({"components": dict(sorted(components.items()))})


def example_key(example: Any) -> str:
    """Evaluations and the cache are keyed by example *content*, never position."""
    return content_key({"example": example})
