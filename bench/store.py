"""What the durable run store costs: per write, per run, and on disk.

    python bench/store.py            # print the tables
    python bench/store.py --quick    # fewer repeats (a smoke test)
    python bench/store.py --large    # show/report/dashboard on 10,000 candidates and 1,000,000 evaluations

Three measurements, each side by side with the in-memory store:

1. Write cost per evaluation (``start_evaluations`` + ``add_evaluation``) and per
   proposal (``add_candidate`` + ``add_proposal``), single thread, in microseconds.
2. A throughput workload: ``optimize_anything`` on ``bench/workloads.py``'s problem
   with a scripted LM of 50 ms latency, a 10 ms evaluator and 8 workers, run with
   ``MemoryStore`` and with ``run_dir=`` (SQLite) in alternation; the overhead is
   the ratio of median wall times (target: under 5%).
3. The database size for 10,000 evaluations with 2 KB of side info each.

``--large`` instead builds synthetic runs (``bench/_large_store.py``) at a tenth
of the scale and at full scale and times what a user waits for on each:
``honing show``, ``honing report``, the dashboard's first overview and a
candidate page. Full scale takes about 5 minutes and 1 GB of disk.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import string
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _benchmarks_md as benchmarks_md  # noqa: E402

import honing as hn  # noqa: E402
from honing._records import CandidateRecord, EvaluationRecord, LMUsage, ProposalRecord  # noqa: E402
from honing.store import (  # noqa: E402
    MemoryStore,
    RunHeader,
    SQLiteStore,  # noqa: E402
)

HEADER = RunHeader(fingerprint="bench", objective=None, background=None, seed_components={"candidate": "x"},
                   candidate_is_str=True)


def _trace(rng: random.Random, size: int) -> str:
    """Log-like text: what evaluators really put in side info (compressible, but never repeated)."""
    lines, total = [], 0
    while total < size:
        line = f"step {rng.randrange(10**6)}: {rng.choice(['ok', 'retry', 'FAIL'])} in {rng.random():.4f}s " \
               f"{''.join(rng.choices(string.ascii_lowercase, k=20))}\n"
        lines.append(line)
        total += len(line)
    return "".join(lines)[:size]


def _stores(tmp: str):
    yield "memory", MemoryStore()
    yield "sqlite", SQLiteStore(Path(tmp) / "normal.db")
    yield "sqlite FULL", SQLiteStore(Path(tmp) / "full.db", synchronous="FULL")


def write_costs(n: int) -> list[tuple[str, float, float, float]]:
    rng = random.Random(0)
    traces = [_trace(rng, 2048) for _ in range(64)]
    prompt = [{"role": "user", "content": _trace(rng, 3000)}]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, store in _stores(tmp):
            store.open(HEADER, {"config": {}})
            started = time.perf_counter()
            for i in range(n):
                store.start_evaluations([(0, f"k{i}")])
                store.add_evaluation(EvaluationRecord(candidate_id=0, example_key=f"k{i}", split="val", score=0.5,
                                                      side_info={"target": 3, "found": 2}, created_at=time.time()))
            small = (time.perf_counter() - started) / n
            started = time.perf_counter()
            for i in range(n):
                store.start_evaluations([(1, f"k{i}")])
                store.add_evaluation(EvaluationRecord(candidate_id=1, example_key=f"k{i}", split="val", score=0.5,
                                                      side_info={"trace": traces[i % 64] + str(i)},
                                                      created_at=time.time()))
            big = (time.perf_counter() - started) / n
            started = time.perf_counter()
            for i in range(n):
                store.add_candidate(CandidateRecord(id=i + 2, components={"candidate": f"text {i}" * 40},
                                                    parents=(0,), origin="reflection", proposal_id=i))
                store.add_proposal(ProposalRecord(id=i, kind="reflection", parent_ids=(0,),
                                                  components=("candidate",), prompt=prompt, reply="```\nx\n```",
                                                  child_id=i + 2, accepted=True, reason="better",
                                                  usage=LMUsage(100, 20, 0.001, 0.05, "m")))
            proposal = (time.perf_counter() - started) / n
            store.close()
            rows.append((name, small * 1e6, big * 1e6, proposal * 1e6))
    return rows


def concurrent_costs(n: int, threads: int = 8) -> list[tuple[str, float]]:
    """Wall time per evaluation written by ``threads`` threads at once (group commit at work)."""
    import threading

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, store in _stores(tmp):
            store.open(HEADER, {"config": {}})
            per_thread = n // threads

            def work(t: int, store=store, per_thread: int = per_thread) -> None:
                for i in range(per_thread):
                    store.start_evaluations([(t, f"k{i}")])
                    store.add_evaluation(EvaluationRecord(candidate_id=t, example_key=f"k{i}", split="val",
                                                          score=0.5, side_info={"target": 3, "found": 2},
                                                          created_at=time.time()))

            workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
            started = time.perf_counter()
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            rows.append((name, (time.perf_counter() - started) / (per_thread * threads) * 1e6))
            store.close()
    return rows


def _run_workload(run_dir: str | None, budget: int) -> tuple[float, int]:
    from workloads import SEED_CANDIDATE, make_evaluator, make_lm, split_examples

    train, val = split_examples()
    # run_dir=None alone would now store the run in a fresh default directory (SQLite too): ask for memory
    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=budget, run_dir=run_dir, max_workers=8,
                                              progress=False),
                       store=MemoryStore() if run_dir is None else None,
                       reflection=hn.ReflectionConfig(reflection_lm=make_lm(latency=0.05)))
    started = time.perf_counter()
    result = hn.optimize_anything(SEED_CANDIDATE, evaluator=make_evaluator(latency=0.01), dataset=train,
                                  valset=val, config=config)
    return time.perf_counter() - started, result.total_metric_calls


def workload(repeats: int, budget: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"memory": [], "sqlite": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeats):
            for name in (("memory", "sqlite") if r % 2 == 0 else ("sqlite", "memory")):
                run_dir = os.path.join(tmp, f"run{r}") if name == "sqlite" else None
                wall, calls = _run_workload(run_dir, budget)
                times[name].append(calls / wall)
    return times


def db_size(n: int) -> list[tuple[str, float, float]]:
    rows = []
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in (("log-like text", lambda i: _trace(rng, 2048)),
                           ("random (incompressible)", lambda i: rng.randbytes(1536).hex()[:2048])):
            store = SQLiteStore(Path(tmp) / f"{len(rows)}.db")
            store.open(HEADER, {"config": {}})
            started = time.perf_counter()
            for i in range(n):
                store.start_evaluations([(i // 50, f"k{i % 50}")])
                store.add_evaluation(EvaluationRecord(candidate_id=i // 50, example_key=f"k{i % 50}", split="val",
                                                      score=0.5, side_info={"trace": make(i), "i": i},
                                                      created_at=time.time()))
            elapsed = time.perf_counter() - started
            store.close()
            size = sum(p.stat().st_size for p in Path(tmp).glob(f"{len(rows)}.db*"))
            rows.append((name, size / 2**20, elapsed))
    return rows


def prompt_sizes(n: int) -> list[tuple[str, float, float]]:
    """Bytes on disk for ``n`` real reflection prompts of one run: as text, stored plainly, stored compressed."""
    from _large_store import Shape, make_large_store

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        make_large_store(Path(tmp) / "run", Shape(candidates=n + 1, evaluations=(n + 1) * 3 + 200, val_size=50),
                         log=None)
        from honing.store import RunReader
        from honing.store._codec import Encoder
        from honing.store._rows import proposal_params

        with RunReader(Path(tmp) / "run") as reader:
            prompts = [reader.proposal(info) for info in reader.proposals]
        text = sum(len(json.dumps(p.prompt, ensure_ascii=False).encode()) for p in prompts)
        for name, packer in (("plain (schema 1-2: long strings as zlib blobs)", None),
                             ("compressed against a recent prompt (schema 3+)", "store")):
            store = SQLiteStore(Path(tmp) / f"{len(rows)}.db")
            store.open(HEADER, {"config": {}})
            before = _stored_bytes(store.path)
            for record in prompts:
                blobs: list = []
                enc = Encoder(lambda h, k, p, out=blobs: out.append((h, k, p)))
                params = proposal_params(record, enc, store._packer if packer else None)  # noqa: SLF001
                store._write([("INSERT INTO proposals (id, kind, parent_ids, components, prompt, reply, child_id, "  # noqa: SLF001
                               "accepted, reason, parent_score, child_score, minibatch_keys, prompt_tokens, "
                               "completion_tokens, cost_usd, lm_duration_s, model, error, created_at) VALUES "
                               "(?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                               params[:5] + params[6:])], blobs, "bench")
            rows.append((name, (_stored_bytes(store.path) - before) / 1024, text / 1024))
            store.close()
    return rows


def _stored_bytes(path: Path) -> int:
    import sqlite3

    db = sqlite3.connect(path)
    prompt = db.execute("SELECT coalesce(sum(length(prompt)), 0) FROM proposals").fetchone()[0]
    blobs = db.execute("SELECT coalesce(sum(length(data) + length(hash) + 16), 0) FROM blobs").fetchone()[0]
    db.close()
    return prompt + blobs


def large(scales: list[float], keep: str | None) -> None:
    from _large_store import Shape, make_large_store, measure_views

    full = Shape()
    columns = []
    with tempfile.TemporaryDirectory() as tmp:
        for scale in scales:
            shape = Shape(candidates=int(full.candidates * scale), evaluations=int(full.evaluations * scale),
                          val_size=full.val_size, train_size=full.train_size)
            run_dir = Path(keep or tmp) / f"large-{scale:g}"
            if not (run_dir / "honing.db").exists():
                print(f"writing {shape.candidates:,} candidates / {shape.evaluations:,} evaluations to {run_dir}",
                      flush=True)
                stats = make_large_store(run_dir, shape, log=None)
            else:
                stats = {"candidates": shape.candidates, "evaluations": shape.evaluations,
                         "mib": (run_dir / "honing.db").stat().st_size / 2**20, "seconds": float("nan")}
            times = measure_views(run_dir, tmp)
            columns.append((shape, stats, times))
    print("\n| | " + " | ".join(f"{s.candidates:,} candidates, {s.evaluations:,} evaluations" for s, _, _ in columns)
          + " |")
    print("|---|" + "---:|" * len(columns))
    print("| store size (MiB) | " + " | ".join(f"{st['mib']:.0f}" for _, st, _ in columns) + " |")
    for name in ("show", "report", "dashboard overview", "dashboard candidate", "dashboard overview again"):
        print(f"| {name} (s) | " + " | ".join(f"{t[name]:.2f}" for _, _, t in columns) + " |")
    print("| report size (MiB) | " + " | ".join(f"{t['report MiB']:.1f}" for _, _, t in columns) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--large", action="store_true", help="time the viewers on large synthetic runs")
    parser.add_argument("--large-scales", default="0.1,1", help="fractions of the full large shape (default 0.1,1)")
    parser.add_argument("--keep", default=None, help="keep (and reuse) the large runs under this directory")
    args = parser.parse_args()
    if args.large:
        print(f"honing {hn.__version__}, Python {sys.version.split()[0]}, {os.cpu_count()} cores, "
              f"load {open('/proc/loadavg').read().split()[:3]}")
        large([float(s) for s in args.large_scales.split(",")], args.keep)
        print(f"load after: {open('/proc/loadavg').read().split()[:3]}")
        return 0
    n = 300 if args.quick else 2000
    repeats, budget = (2, 150) if args.quick else (6, 400)

    print(f"honing {hn.__version__}, Python {sys.version.split()[0]}, {os.cpu_count()} cores\n")
    print(f"## write cost, single thread ({n} records each)\n")
    costs = write_costs(n)
    base = costs[0][2]
    print(benchmarks_md.table(
        ["store", "per evaluation, small side info (us)", "per evaluation, 2 KB side info (us)",
         "per proposal + candidate (us)", "ratio vs memory (2 KB eval)"],
        [(name, f"{small:.1f}", f"{big:.1f}", f"{prop:.1f}", f"{big / base:.0f}x")
         for name, small, big, prop in costs]))

    print("\n## write cost, 8 threads writing at once (wall time per evaluation)\n")
    conc = concurrent_costs(n)
    print(benchmarks_md.table(["store", "per evaluation (us)", "ratio vs memory"],
                              [(name, f"{us:.1f}", f"{us / conc[0][1]:.0f}x") for name, us in conc]))

    print(f"\n## throughput workload (LM 50 ms, evaluator 10 ms, 8 workers, {budget} metric calls, "
          f"{repeats} runs each, alternating)\n")
    times = workload(repeats, budget)
    memory, sqlite = statistics.median(times["memory"]), statistics.median(times["sqlite"])
    print(benchmarks_md.table(["store", "metric calls/s (median)", "runs"],
                              [(name, f"{statistics.median(values):.1f}", ", ".join(f"{v:.1f}" for v in values))
                               for name, values in times.items()], align="lrl"))
    print(f"\noverhead of the SQLite store: {(memory / sqlite - 1) * 100:+.1f}% wall time per metric call")

    n_prompts = 100 if args.quick else 500
    print(f"\n## prompt storage, {n_prompts} reflection prompts of one run (the prompt column and its blobs)\n")
    print(benchmarks_md.table(["stored", "KiB", "share of the prompts' text"],
                              [(name, f"{kib:.0f}", f"{kib / text_kib:.1%} of {text_kib:.0f} KiB")
                               for name, kib, text_kib in prompt_sizes(n_prompts)]))

    size_n = 2000 if args.quick else 10_000
    print(f"\n## database size, {size_n} evaluations with 2 KB side info each\n")
    print(benchmarks_md.table(["side info", "size (MiB)", "bytes per evaluation", "write time (s)"],
                              [(name, f"{mib:.1f}", f"{mib * 2**20 / size_n:.0f}", f"{elapsed:.2f}")
                               for name, mib, elapsed in db_size(size_n)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
