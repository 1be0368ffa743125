"""Records <-> table rows, shared by the writer (``SQLiteStore``) and the viewer (``RunReader``).

Fields with a fixed type (ids, tuples of ids, floats) get plain columns, so the
database can be queried by hand; fields typed ``Any`` go through the codec.
"""

from __future__ import annotations

import json
import math
import sqlite3
from typing import Any, overload

from .._records import AdmissionRecord, CandidateRecord, EvaluationRecord, LMUsage, ProposalRecord
from ._base import RunHeader
from ._codec import Decoder, Encoder, GetBlob, unpack_payload
from ._prompts import PromptPacker

CANDIDATE_COLUMNS = "id, components, parents, origin, proposal_id, created_at"
EVALUATION_COLUMNS = ("candidate_id, example_key, split, score, objective_scores, side_info, output, duration_s, "
                      "error, cached, created_at")
PROPOSAL_COLUMNS = ("id, kind, parent_ids, components, prompt, reply, child_id, accepted, reason, parent_score, "
                    "child_score, minibatch_keys, prompt_tokens, completion_tokens, cost_usd, lm_duration_s, model, "
                    "error, created_at")


def _placeholders(columns: str) -> str:
    return ", ".join("?" for _ in columns.split(","))


INSERT_CANDIDATE = f"INSERT INTO candidates ({CANDIDATE_COLUMNS}) VALUES ({_placeholders(CANDIDATE_COLUMNS)})"
INSERT_EVALUATION = f"INSERT INTO evaluations ({EVALUATION_COLUMNS}) VALUES ({_placeholders(EVALUATION_COLUMNS)})"
INSERT_PROPOSAL = f"INSERT INTO proposals ({PROPOSAL_COLUMNS}) VALUES ({_placeholders(PROPOSAL_COLUMNS)})"
ADMISSION_COLUMNS = "candidate_id, proposal_id, admitted, reason, val_evaluated, created_at"
INSERT_ADMISSION = f"INSERT INTO admissions ({ADMISSION_COLUMNS}) VALUES ({_placeholders(ADMISSION_COLUMNS)})"


def text_param(value: str | None) -> str | bytes | None:
    """A free-text column value (an LM reply, an error): UTF-8 text, or its bytes when it has lone surrogates.

    SQLite text must be UTF-8, which cannot hold a lone surrogate; the column
    then holds the ``surrogatepass`` bytes instead and ``text_value`` gives
    back the identical string.
    """
    if value is None:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")
    return value


@overload
def text_value(value: str | bytes) -> str: ...
@overload
def text_value(value: None) -> None: ...
def text_value(value: str | bytes | None) -> str | None:
    return value.decode("utf-8", "surrogatepass") if isinstance(value, bytes) else value


def _real(value: float | None) -> float | None:
    """SQLite stores NaN as NULL; callers map NULL back to NaN where the field cannot be None."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def candidate_params(record: CandidateRecord, enc: Encoder) -> tuple[Any, ...]:
    return (record.id, enc.dumps(record.components), json.dumps(list(record.parents)), record.origin,
            record.proposal_id, record.created_at)


def candidate_from_row(row: tuple[Any, ...], dec: Decoder) -> CandidateRecord:
    cid, components, parents, origin, proposal_id, created_at = row
    return CandidateRecord(id=cid, components=dec.loads(components), parents=tuple(json.loads(parents)),
                           origin=origin, proposal_id=proposal_id, created_at=created_at)


def evaluation_params(record: EvaluationRecord, enc: Encoder) -> tuple[Any, ...]:
    return (record.candidate_id, record.example_key, record.split, _real(record.score),
            enc.dumps(record.objective_scores), enc.dumps(record.side_info), enc.dumps(record.output),
            record.duration_s, text_param(record.error), 0, record.created_at)  # 0: the unused 'cached' column


def evaluation_from_row(row: tuple[Any, ...], dec: Decoder | None) -> EvaluationRecord:
    """With ``dec=None`` side info and output are left out (cheap listing for viewers)."""
    (cid, key, split, score, objective_scores, side_info, output, duration_s, error, _cached, created_at) = row
    return EvaluationRecord(
        candidate_id=cid, example_key=key, split=split, score=math.nan if score is None else score,
        objective_scores=json.loads(objective_scores) if dec is None else dec.loads(objective_scores),
        side_info={} if dec is None else dec.loads(side_info), output=None if dec is None else dec.loads(output),
        duration_s=duration_s, error=text_value(error), created_at=created_at,
    )


def proposal_params(record: ProposalRecord, enc: Encoder, packer: PromptPacker | None = None) -> tuple[Any, ...]:
    """``packer`` compresses the prompt against a recent one (see ``_prompts``); without it, plain JSON."""
    usage = record.usage
    prompt = enc.dumps(record.prompt) if packer is None else enc.dumps_packed(record.prompt, packer)
    return (record.id, record.kind, json.dumps(list(record.parent_ids)), enc.dumps(list(record.components)),
            prompt, text_param(record.reply), record.child_id, int(record.accepted),
            text_param(record.reason),
            _real(record.parent_score), _real(record.child_score), enc.dumps(list(record.minibatch_keys)),
            usage.prompt_tokens, usage.completion_tokens, usage.cost_usd, usage.duration_s, text_param(usage.model),
            text_param(record.error), record.created_at)


def proposal_from_row(row: tuple[Any, ...], dec: Decoder) -> ProposalRecord:
    (pid, kind, parent_ids, components, prompt, reply, child_id, accepted, reason, parent_score, child_score,
     minibatch_keys, prompt_tokens, completion_tokens, cost_usd, lm_duration_s, model, error, created_at) = row
    return ProposalRecord(
        id=pid, kind=kind, parent_ids=tuple(json.loads(parent_ids)), components=tuple(dec.loads(components)),
        prompt=dec.loads(prompt), reply=text_value(reply), child_id=child_id, accepted=bool(accepted),
        reason=text_value(reason),
        parent_score=parent_score, child_score=child_score, minibatch_keys=tuple(dec.loads(minibatch_keys)),
        usage=LMUsage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, cost_usd=cost_usd,
                      duration_s=lm_duration_s, model=text_value(model)),
        error=text_value(error), created_at=created_at,
    )


def admission_params(record: AdmissionRecord) -> tuple[Any, ...]:
    return (record.candidate_id, record.proposal_id, int(record.admitted), record.reason, record.val_evaluated,
            record.created_at)


def admission_from_row(row: tuple[Any, ...]) -> AdmissionRecord:
    cid, pid, admitted, reason, val_evaluated, created_at = row
    return AdmissionRecord(candidate_id=cid, proposal_id=pid, admitted=bool(admitted), reason=reason,
                           val_evaluated=val_evaluated, created_at=created_at)


def header_to_json(header: RunHeader) -> str:
    return json.dumps({"fingerprint": header.fingerprint, "objective": header.objective,
                       "background": header.background, "seed_components": header.seed_components,
                       "candidate_is_str": header.candidate_is_str, "evaluator": header.evaluator,
                       "evaluator_source": header.evaluator_source})


def header_from_json(text: str) -> RunHeader:
    data = json.loads(text)
    return RunHeader(fingerprint=data["fingerprint"], objective=data["objective"], background=data["background"],
                     seed_components=data["seed_components"], candidate_is_str=data["candidate_is_str"],
                     evaluator=data.get("evaluator"), evaluator_source=data.get("evaluator_source"))


def blob_reader(conn: sqlite3.Connection, cache: dict[str, tuple[str, bytes]] | None = None) -> GetBlob:
    """A ``GetBlob`` over ``conn``; the caller serializes access to the connection."""

    def get(digest: str) -> tuple[str, bytes]:
        if cache is not None and digest in cache:
            return cache[digest]
        row = conn.execute("SELECT kind, compressed, data FROM blobs WHERE hash=?", (digest,)).fetchone()
        if row is None:
            raise KeyError(f"blob {digest} is missing from the run store")
        found = (row[0], unpack_payload(row[2], bool(row[1])))
        if cache is not None:
            if len(cache) > 512:
                cache.clear()
            cache[digest] = found
        return found

    return get


def read_header(conn: sqlite3.Connection) -> RunHeader | None:
    row = conn.execute("SELECT value FROM honing_meta WHERE key='header'").fetchone()
    return None if row is None else header_from_json(row[0])
