"""Shared pieces of the store tests: stores to run the contract on, and record factories."""

from __future__ import annotations

import time

from honing._records import CandidateRecord, EvaluationRecord, LMUsage, ProposalRecord
from honing.store import RunHeader


def header(fingerprint: str = "fp-1", objective: str | None = "more @") -> RunHeader:
    return RunHeader(fingerprint=fingerprint, objective=objective, background="bg",
                     seed_components={"candidate": "@"}, candidate_is_str=True)


def candidate(cid: int, text: str = "@", parents: tuple[int, ...] = (), origin: str = "seed",
              proposal_id: int | None = None) -> CandidateRecord:
    return CandidateRecord(id=cid, components={"candidate": text}, parents=parents, origin=origin,
                           proposal_id=proposal_id, created_at=time.time())


def evaluation(cid: int, key: str, score: float = 0.5, **fields) -> EvaluationRecord:
    fields.setdefault("side_info", {"hint": "more @", "count": cid})
    return EvaluationRecord(candidate_id=cid, example_key=key, split=fields.pop("split", "val"), score=score,
                            created_at=time.time(), **fields)


def proposal(pid: int, child: int | None = 1, accepted: bool = True) -> ProposalRecord:
    return ProposalRecord(
        id=pid, kind="reflection", parent_ids=(0,), components=("candidate",),
        prompt=[{"role": "user", "content": "improve: @"}], reply="```\n@@\n```", child_id=child,
        accepted=accepted, reason="improved on the minibatch", parent_score=0.1, child_score=0.2,
        minibatch_keys=("k1", "k2"), usage=LMUsage(prompt_tokens=10, completion_tokens=5, cost_usd=0.001,
                                                    duration_s=0.05, model="scripted"),
        created_at=time.time(),
    )
