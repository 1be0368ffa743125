"""Run ONE engine-overhead measurement with honing or GEPA 0.1.4 and print one JSON line.

The LM and the evaluator are instant, so the wall-clock is the engine's own cost. The workload is
``workloads.py``'s "step" problem with ``--examples`` validation examples (and 10 training examples);
the scripted LM adds one step per reply and numbers its drafts, so every reply is a new candidate.
Each LM call's time is kept, so per-proposal cost can be compared between the start and the end of
a long run. Started by ``bench/scaling.py`` with either interpreter.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import workloads  # noqa: E402


def rss_mb(field: str) -> float:
    """This process's resident memory now (``VmRSS:``) or at its peak (``VmHWM:``), in MB.

    Not ``ru_maxrss`` for the peak: Linux carries that over an exec from the process that spawned this
    one, so every run would report at least ``bench/scaling.py``'s own size (GEPA's 10,000-proposal run
    showed 39 MB, the parent's size after holding GEPA's log output, against its own 34.5 MB).
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", required=True, choices=("honing", "gepa"))
    parser.add_argument("--examples", type=int, default=100, help="validation examples")
    parser.add_argument("--proposals", type=int, default=50)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run-dir", help="honing: where the run store goes (default: a temporary directory)")
    return parser.parse_args(argv)


def examples(n: int, seed: int) -> list[dict[str, int]]:
    rng = random.Random(seed)
    return [{"id": i, "target": rng.randint(1, workloads.MAX_TARGET)} for i in range(n)]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    train, val = examples(10, args.seed), examples(args.examples, args.seed + 1)
    val = [dict(ex, id=ex["id"] + 10) for ex in val]
    calls = [0]

    def evaluator(candidate, example, **_):
        calls[0] += 1
        return workloads.score_candidate(candidate, example)

    reply = workloads.make_lm(0.0, vary=True)
    lm_times: list[float] = []

    def lm(prompt, *a, **k):
        lm_times.append(time.perf_counter())
        return reply(prompt)

    run_dir = args.run_dir or tempfile.mkdtemp(prefix="honing-scaling-")
    interpreter_mb = rss_mb("VmRSS:")
    started = time.perf_counter()
    if args.system == "honing":
        import logging

        import honing as hn

        imported = time.perf_counter()
        logging.getLogger("honing").setLevel(logging.ERROR)
        config = hn.Config(engine=hn.EngineConfig(max_candidate_proposals=args.proposals, max_workers=args.workers,
                                                  seed=args.seed, run_dir=run_dir, progress=False),
                           reflection=hn.ReflectionConfig(reflection_lm=lm))
        result = hn.optimize_anything(workloads.SEED_CANDIDATE, evaluator, dataset=train, valset=val, config=config)
        best = result.best_score
        proposals = len(result.proposals)
    else:
        from gepa.optimize_anything import EngineConfig, GEPAConfig, ReflectionConfig, optimize_anything

        imported = time.perf_counter()
        config = GEPAConfig(engine=EngineConfig(max_candidate_proposals=args.proposals, parallel=True,
                                                max_workers=args.workers, seed=args.seed),
                            reflection=ReflectionConfig(reflection_lm=lm))
        with contextlib.redirect_stdout(sys.stderr):
            result = optimize_anything(workloads.SEED_CANDIDATE, evaluator=evaluator, dataset=train, valset=val,
                                       config=config)
        best = float(result.val_aggregate_scores[result.best_idx])
        proposals = len(lm_times)
    wall = time.perf_counter() - started
    gaps = [b - a for a, b in zip(lm_times, lm_times[1:])]
    tenth = max(1, len(gaps) // 10)
    db = os.path.join(run_dir, "honing.db")
    record = {
        "system": args.system, "examples": args.examples, "proposals_asked": args.proposals, "proposals": proposals,
        "lm_calls": len(lm_times), "evaluator_calls": calls[0], "wall_clock_s": round(wall, 4),
        "import_s": round(imported - started, 4), "interpreter_mb": interpreter_mb,
        "ms_per_evaluation": round(1000 * wall / max(1, calls[0]), 4),
        "ms_per_proposal": round(1000 * wall / max(1, len(lm_times)), 4),
        "ms_per_proposal_first_10pct": round(1000 * sum(gaps[:tenth]) / tenth, 4) if gaps else None,
        "ms_per_proposal_last_10pct": round(1000 * sum(gaps[-tenth:]) / tenth, 4) if gaps else None,
        "peak_rss_mb": rss_mb("VmHWM:"),
        "store_mb": round(os.path.getsize(db) / 2**20, 2) if args.system == "honing" and os.path.exists(db) else None,
        "best_score": best, "run_dir": run_dir if args.system == "honing" else None,
    }
    sys.stdout.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
