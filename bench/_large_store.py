"""A synthetic run store at the scale of a long run, and how long the viewers take to open it.

``make_large_store`` writes a run the way the engine would -- candidates with
lineage, one reflection proposal per child with a real reflection prompt
(``honing._reflection.build_reflection_messages``), minibatch evaluations for
every child, full validation scoring and an admission verdict for the accepted
ones -- straight through
``SQLiteStore``'s row encoders, a thousand records per transaction, without an
engine, an LM or an evaluator. The default shape: 10,000 candidates and
1,000,000 evaluations over a 500-example valset (about 1,900 accepted
candidates scored on all of it).

``measure_views`` times what a user waits for: ``honing show``, ``honing
report`` and the dashboard's first ``/api/overview`` and ``/api/candidate``.

Used by ``bench/store.py --large`` and by ``bench/scaling.py``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import random
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from honing._records import AdmissionRecord, CandidateRecord, EvaluationRecord, LMUsage, ProposalRecord
from honing._reflection import ReflectionExample, build_reflection_messages
from honing.store import RunHeader, SQLiteStore
from honing.store._rows import (
    INSERT_ADMISSION,
    INSERT_CANDIDATE,
    INSERT_EVALUATION,
    INSERT_PROPOSAL,
    admission_params,
    candidate_params,
    evaluation_params,
    proposal_params,
)

OBJECTIVE = "Answer the customer's billing question correctly, politely and in at most three sentences."
BACKGROUND = "Refunds are possible within 30 days. Annual plans are billed up front. Never promise a discount."
WORDS = ["refund", "invoice", "plan", "annual", "monthly", "charge", "customer", "policy", "discount", "upgrade",
         "downgrade", "account", "billing", "cycle", "payment", "card", "receipt", "support", "escalate", "apologize",
         "explain", "verify"]


@dataclass(frozen=True)
class Shape:
    candidates: int = 10_000
    evaluations: int = 1_000_000
    val_size: int = 500
    train_size: int = 1_000
    minibatch: int = 3
    seed: int = 0

    @property
    def pool_size(self) -> int:
        """Accepted candidates (the seed included): what the rest of the evaluation budget scores on the valset."""
        per_child = self.minibatch  # the child's minibatch; the parent's scores on it are reused
        return max(1, (self.evaluations - self.candidates * per_child) // self.val_size)


def _key(kind: str, i: int) -> str:
    return hashlib.sha256(f"{kind}{i}".encode()).hexdigest()[:32]


def _text(rng: random.Random, lines: int) -> str:
    return "\n".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14))) for _ in range(lines))


def _mutate(rng: random.Random, text: str) -> str:
    lines = text.split("\n")
    lines[rng.randrange(len(lines))] = _text(rng, 1)
    return "\n".join(lines)


def _side_info(rng: random.Random, i: int) -> dict:
    info = {"expected": _text(rng, 1), "got": _text(rng, 1), "feedback": rng.choice(
        ["correct", "too long", "wrong policy", "impolite", "missed the question"])}
    if i % 20 == 0:  # now and then a long trace, as evaluators of programs return
        info["trace"] = _text(rng, 40)
    return info


def make_large_store(path: str | Path, shape: Shape = Shape(), *, log=print) -> dict[str, float]:
    """Write the synthetic run to ``path`` (a run directory); returns its counts, size and the time it took."""
    started = time.perf_counter()
    rng = random.Random(shape.seed)
    store = SQLiteStore.for_run_dir(path)
    seed_text = _text(rng, 25)
    store.open(RunHeader(fingerprint="synthetic", objective=OBJECTIVE, background=BACKGROUND,
                         seed_components={"candidate": seed_text}, candidate_is_str=True,
                         evaluator="bench.synthetic.evaluate"),
               {"config": {"engine": {"max_metric_calls": shape.evaluations, "frontier_type": "instance"}}})
    val = [_key("val", i) for i in range(shape.val_size)]
    train = [_key("train", i) for i in range(shape.train_size)]
    quality = {0: 0.3}
    texts = {0: seed_text}
    pool = [0]
    accept_every = max(1, round((shape.candidates - 1) / max(1, shape.pool_size - 1)))
    batch: list[tuple[str, tuple]] = []
    blobs: list[tuple[str, str, bytes]] = []
    counts = {"candidates": 0, "evaluations": 0, "proposals": 0}
    now = time.time()

    def flush(force: bool = False) -> None:
        if len(batch) >= 2000 or (force and batch):
            store._write(list(batch), list(blobs), "writing the synthetic run")
            batch.clear()
            blobs.clear()

    def encoder():
        from honing.store._codec import Encoder

        return Encoder(lambda h, k, p: blobs.append((h, k, p)))

    def evaluate(cid: int, key: str, split: str) -> float:
        score = min(1.0, max(0.0, rng.gauss(quality[cid], 0.15)))
        record = EvaluationRecord(candidate_id=cid, example_key=key, split=split, score=score,
                                  side_info=_side_info(rng, counts["evaluations"]), duration_s=0.01, created_at=now)
        batch.append(("INSERT INTO started (candidate_id, example_key, session, started_at) VALUES (?, ?, 1, ?)",
                      (cid, key, now)))
        batch.append((INSERT_EVALUATION, evaluation_params(record, encoder())))
        counts["evaluations"] += 1
        return score

    def add_candidate(record: CandidateRecord) -> None:
        batch.append((INSERT_CANDIDATE, candidate_params(record, encoder())))
        counts["candidates"] += 1

    add_candidate(CandidateRecord(id=0, components={"candidate": seed_text}, origin="seed", created_at=now))
    for key in val:
        evaluate(0, key, "val")
    for cid in range(1, shape.candidates):
        parent = rng.choice(pool[-50:])
        minibatch = rng.sample(train, shape.minibatch)
        examples = [ReflectionExample(score=rng.random(), side_info=_side_info(rng, cid), example={"q": _text(rng, 1)})
                    for _ in minibatch]
        prompt = build_reflection_messages(component="candidate", current_text=texts[parent],
                                           all_components={"candidate": texts[parent]}, examples=examples,
                                           objective=OBJECTIVE, background=BACKGROUND, allow_edits=False)
        child = _mutate(rng, texts[parent])
        texts[cid] = child
        accepted = cid % accept_every == 0 and len(pool) < shape.pool_size
        quality[cid] = min(0.95, quality[parent] + (0.01 if accepted else -0.02))
        add_candidate(CandidateRecord(id=cid, components={"candidate": child}, parents=(parent,), origin="reflection",
                                      proposal_id=cid - 1, created_at=now))
        child_scores = [evaluate(cid, key, "train") for key in minibatch]
        reply = f"The answers were too long.\n```\n{child}\n```"
        record = ProposalRecord(id=cid - 1, kind="reflection", parent_ids=(parent,), components=("candidate",),
                                prompt=prompt, reply=reply, child_id=cid, accepted=accepted,
                                reason="better on the minibatch" if accepted else "not better on the minibatch",
                                parent_score=quality[parent], child_score=sum(child_scores) / len(child_scores),
                                minibatch_keys=tuple(minibatch),
                                usage=LMUsage(prompt_tokens=1200, completion_tokens=400, cost_usd=0.002,
                                              duration_s=2.0, model="synthetic"), created_at=now)
        batch.append((INSERT_PROPOSAL, proposal_params(record, encoder(), store._packer)))
        counts["proposals"] += 1
        if accepted:  # the minibatch winner races on the valset and is admitted (losers are left out)
            pool.append(cid)
            for key in val:
                evaluate(cid, key, "val")
            batch.append((INSERT_ADMISSION, admission_params(AdmissionRecord(
                candidate_id=cid, proposal_id=cid - 1, admitted=True, reason="won its validation race",
                val_evaluated=len(val), created_at=now))))
        flush()
        if log and cid % 1000 == 0:
            log(f"  {cid} candidates, {counts['evaluations']} evaluations, {time.perf_counter() - started:.0f} s")
    flush(force=True)
    store.close()
    db = Path(path) / "honing.db"
    return {**counts, "pool": len(pool), "seconds": time.perf_counter() - started,
            "mib": db.stat().st_size / 2**20}


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def measure_views(run_dir: str | Path, out_dir: str | Path) -> dict[str, float]:
    """Seconds to open and render each view of the run (one cold pass each, in a fresh reader)."""
    from honing.store import RunReader
    from honing.ui import Dashboard, build_report, render_show

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    times: dict[str, float] = {}

    def show() -> None:
        with RunReader(run_dir) as reader, contextlib.redirect_stdout(io.StringIO()):
            print(render_show(reader))

    times["show"] = _timed(show)
    times["report"] = _timed(lambda: build_report(str(run_dir), out_dir / "report.html"))
    times["report MiB"] = (out_dir / "report.html").stat().st_size / 2**20
    opened = time.perf_counter()
    dashboard = Dashboard(run_dir, port=0).start()
    try:
        overview = json.load(urllib.request.urlopen(dashboard.url + "api/overview", timeout=600))
        times["dashboard overview"] = time.perf_counter() - opened
        best = overview["best"]["id"]
        times["dashboard candidate"] = _timed(
            lambda: urllib.request.urlopen(f"{dashboard.url}api/candidate/{best}", timeout=600).read())
        times["dashboard overview again"] = _timed(
            lambda: urllib.request.urlopen(dashboard.url + "api/overview", timeout=600).read())
    finally:
        dashboard.close()
    return times
