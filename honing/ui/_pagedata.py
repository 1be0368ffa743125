"""The data behind the report and the dashboard, as plain JSON-able dicts.

Kept apart from any HTML so both front ends show the same numbers: the static
report embeds ``overview`` plus every ``candidate_detail``; the live dashboard
serves the same two builders as a JSON API that its page polls. Values are
made JSON-safe here (images become ``{"$image": data_url}``, non-finite floats
become ``null``, very long strings are cut) so renderers never see Python types.
"""

from __future__ import annotations

import difflib
import math
import time
from collections.abc import Mapping
from typing import Any

from ..store import RunReader

MAX_STRING = 200_000


def jsonable(value: Any, limit: int = MAX_STRING) -> Any:
    """A JSON-safe copy of a side info / output / prompt value."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + f"\n... [{len(value) - limit} more characters]"
    to_data_url = getattr(value, "to_data_url", None)
    if callable(to_data_url):
        try:
            return {"$image": to_data_url()}
        except Exception as exc:
            return f"<image that could not be rendered: {exc}>"
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, limit) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v, limit) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        try:
            return jsonable(tolist(), limit)
        except Exception:
            pass
    return jsonable(repr(value), limit)


def _num(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _front_dict(front: Any) -> dict[str, Any]:
    leaders = getattr(front, "leaders", {}) or {}
    best = getattr(front, "best", {}) or {}
    return {
        "members": sorted(front.members()),
        "leaders": {str(k): sorted(v) for k, v in leaders.items()},
        "best": {str(k): _num(v) for k, v in best.items()},
    }


MAX_LISTED = 400  # candidates in the overview's list and lineage graph
MAX_EVALUATIONS = 500  # evaluations shown per candidate


def listed_candidates(reader: RunReader, front_members: list[int], limit: int = MAX_LISTED) -> list[int]:
    """The candidates a page lists when there are too many to list all: best, front, pool by score, then newest.

    Every candidate is still reachable by id (the dashboard's candidate API).
    """
    info = reader.candidate_info
    if len(info) <= limit:
        return sorted(info)
    chosen: dict[int, None] = {}
    best = reader.best_id()
    if best is not None:
        chosen[best] = None
    chosen.update(dict.fromkeys(front_members))
    def highest_first(cid: int) -> float:
        mean = reader.val_mean(cid)
        return -(mean if mean is not None else -1e300)

    scored = sorted(reader.pool, key=highest_first)
    chosen.update(dict.fromkeys(scored))
    chosen.update(dict.fromkeys(sorted(info, reverse=True)))
    return sorted(list(chosen)[:limit])


def overview(reader: RunReader, *, refresh: bool = True) -> dict[str, Any]:
    """Everything the first screen shows: run status, best candidate, trajectory, candidates, frontier."""
    if refresh:
        reader.refresh()
    pool = set(reader.pool)
    try:
        front = _front_dict(reader.front())
    except Exception as exc:  # a viewer should still show the rest of the run
        front = {"members": [], "leaders": {}, "best": {}, "error": f"{type(exc).__name__}: {exc}"}
    members = set(front["members"])
    best_id = reader.best_id()
    proposals = [p for p in reader.proposals if p.kind != "seed_generation"]
    header = reader.header
    sessions = [{"opened_at": s.get("opened_at"), "closed_at": s.get("closed_at"), "pid": s.get("pid"),
                 "max_metric_calls": _get(s, "config", "engine", "max_metric_calls"),
                 "reflection_lm": jsonable(_get(s, "config", "reflection", "reflection_lm"))}
                for s in reader.sessions]
    candidates = []
    for cid in listed_candidates(reader, front["members"]):
        record = reader.candidate_info[cid]
        candidates.append({
            "id": cid, "parents": list(record.parents), "origin": record.origin, "proposal_id": record.proposal_id,
            "in_pool": cid in pool, "on_front": cid in members, "score": _num(reader.val_mean(cid)),
            "coverage": reader.coverage(cid), "created_at": record.created_at,
        })
    return {
        "generated_at": time.time(),
        "run": {
            "path": str(reader.path), "run_dir": reader.run_dir,
            "objective": header.objective if header else None, "background": header.background if header else None,
            "fingerprint": header.fingerprint if header else None,
            "sessions": sessions, "live": reader.live,
            "metric_calls": reader.metric_calls,
            "max_metric_calls": reader.session_config("engine", "max_metric_calls"),
            "pending": len(reader.pending), "proposals": len(proposals),
            "accepted": sum(p.accepted for p in proposals),
            "cost_usd": sum(p.usage.cost_usd or 0.0 for p in reader.proposals),
            "tokens": sum((p.usage.prompt_tokens or 0) + (p.usage.completion_tokens or 0) for p in reader.proposals),
            "frontier_type": reader.frontier_type, "val_examples": len(reader.val_keys),
            "candidates_total": len(reader.candidate_info), "pool_size": len(pool),
        },
        "best": None if best_id is None else {
            "id": best_id, "score": _num(reader.val_mean(best_id)),
            "components": dict(reader.candidates[best_id].components),
        },
        "trajectory": {k: [{**p, "score": _num(p["score"])} for p in v] for k, v in reader.trajectory().items()},
        "candidates": candidates,
        "frontier": front,
    }


def candidate_detail(reader: RunReader, candidate_id: int, limit: int = MAX_STRING,
                     max_evaluations: int = MAX_EVALUATIONS) -> dict[str, Any] | None:
    """One candidate: its text, the diff against its parent, its evaluations and the reflection behind it."""
    if candidate_id not in reader.candidate_info:
        return None
    record = reader.candidates[candidate_id]
    parent = reader.candidates[record.parents[0]] if record.parents and record.parents[0] in reader.candidates \
        else None
    diff = {}
    for name, text in record.components.items():
        before = parent.components.get(name, "") if parent is not None else None
        diff[name] = None if before is None else _line_diff(before, text)
    evaluations = [{
        "key": e.example_key, "split": e.split, "score": _num(e.score),
        "objective_scores": jsonable(e.objective_scores),
        "side_info": jsonable(e.side_info, limit), "output": jsonable(e.output, limit), "error": e.error,
        "duration_s": e.duration_s,
    } for e in reader.evaluation_details(candidate_id, limit=max_evaluations)]
    total = reader.evaluation_count(candidate_id) if len(evaluations) >= max_evaluations else len(evaluations)
    proposal = reader.proposal_for(candidate_id)
    return {
        "id": candidate_id, "parents": list(record.parents), "origin": record.origin,
        "components": dict(record.components), "parent_id": parent.id if parent is not None else None,
        "diff": diff, "score": _num(reader.val_mean(candidate_id)), "in_pool": reader.views.in_pool(candidate_id),
        "evaluations": evaluations, "evaluations_total": total,
        "proposal": None if proposal is None else {
            "id": proposal.id, "kind": proposal.kind, "accepted": proposal.accepted, "reason": proposal.reason,
            "parent_ids": list(proposal.parent_ids), "components": list(proposal.components),
            "prompt": jsonable(proposal.prompt, limit), "reply": jsonable(proposal.reply, limit),
            "parent_score": _num(proposal.parent_score), "child_score": _num(proposal.child_score),
            "minibatch_keys": list(proposal.minibatch_keys), "error": proposal.error,
            "usage": {"prompt_tokens": proposal.usage.prompt_tokens,
                      "completion_tokens": proposal.usage.completion_tokens,
                      "cost_usd": proposal.usage.cost_usd, "duration_s": proposal.usage.duration_s,
                      "model": proposal.usage.model},
        },
    }


def _line_diff(before: str, after: str) -> list[list[str]]:
    """``[[op, line], ...]`` with op one of ``" "``, ``"-"``, ``"+"`` (a unified diff with full context)."""
    a, b = before.splitlines(), after.splitlines()
    out: list[list[str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.extend([" ", line] for line in a[i1:i2])
            continue
        out.extend(["-", line] for line in a[i1:i2])
        out.extend(["+", line] for line in b[j1:j2])
    return out

def _get(data: Any, *path: str) -> Any:
    for name in path:
        data = data.get(name) if isinstance(data, Mapping) else None
    return data
