"""Run ONE optimization of a quality-benchmark task with honing or GEPA; print one JSON line.

    python bench/_quality_worker.py --engine honing --task circle_packing --budget 6 --lm http://127.0.0.1:8765/v1#m
    .bench-venv/gepa/bin/python bench/_quality_worker.py --engine gepa ...

Both engines get the same task (``bench/_quality_tasks.py``), the same metric-call
budget, the same worker count and the same reflection model: ``--lm`` is resolved
by ``honing.lm`` in both interpreters (honing has no required dependencies, so the
GEPA venv imports it from the repository), i.e. the same client talks to the same
``honing serve-lm`` endpoint. The best candidate is re-scored from scratch by the
task's ``final_score``. Progress goes to stderr; stdout carries only the JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _quality_tasks as tasks  # noqa: E402  (also puts the repository on sys.path)


def run_honing(task, evaluator, lm, args):
    import honing as hn

    config = hn.Config(
        engine=hn.EngineConfig(max_metric_calls=args.budget, max_workers=args.workers, seed=args.seed,
                               max_candidate_proposals=args.max_proposals,
                               max_proposals_in_flight=args.workers, timeout_s=args.timeout, progress=args.progress,
                               run_dir=args.run_dir or tempfile.mkdtemp(prefix="quality-honing-")),
        reflection=hn.ReflectionConfig(reflection_lm=lm),
    )
    result = hn.optimize_anything(task.seed, evaluator, dataset=task.dataset, valset=task.valset,
                                  objective=task.objective,
                                  background=task.background, config=config)
    return str(result.best_candidate), float(result.best_score or 0.0), len(result.proposals), result.total_metric_calls


def run_gepa(task, evaluator, lm, args):
    from gepa.optimize_anything import EngineConfig, GEPAConfig, ReflectionConfig, optimize_anything

    config = GEPAConfig(
        engine=EngineConfig(max_metric_calls=args.budget, parallel=True, max_workers=args.workers,
                            max_candidate_proposals=args.max_proposals,
                            seed=args.seed, raise_on_exception=False),
        reflection=ReflectionConfig(reflection_lm=lm),
    )
    with contextlib.redirect_stdout(sys.stderr):  # GEPA's logger prints progress
        result = optimize_anything(task.seed, evaluator=evaluator, dataset=task.dataset, valset=task.valset,
                                   objective=task.objective,
                                   background=task.background, config=config)
    best = result.best_candidate
    if isinstance(best, dict) and len(best) == 1:
        best = next(iter(best.values()))
    return (str(best), float(result.val_aggregate_scores[result.best_idx]), result.num_candidates - 1,
            result.total_metric_calls)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("honing", "gepa"), required=True)
    parser.add_argument("--task", required=True)
    parser.add_argument("--task-options", default="{}", help="JSON options for the task")
    parser.add_argument("--budget", type=int, required=True, help="max_metric_calls")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-proposals", type=int, default=None, help="stop after this many proposals")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lm", required=True, help="reflection model, resolved with honing.lm ('stub': no model)")
    parser.add_argument("--max-tokens", type=int, default=None, help="reply limit sent with every LM request")
    parser.add_argument("--lm-timeout", type=float, default=3600.0, help="seconds to wait for one LM reply")
    parser.add_argument("--timeout", type=float, default=None, help="honing only: wall-clock stop")
    parser.add_argument("--run-dir", default=None, help="honing only: store the run here")
    parser.add_argument("--progress", action="store_true", help="honing only: progress on stderr")
    args = parser.parse_args(argv)

    import honing

    task = tasks.load(args.task, json.loads(args.task_options))
    evaluator, counter = tasks.counted(task.evaluate, task.dataset is not None)
    if args.lm == "stub":  # pipeline check without a model: proposes the seed again, unchanged
        model = lambda prompt: "```\n" + task.seed + "\n```"  # noqa: E731
    else:
        # A served local model answers one request at a time: a request queued behind others can wait far
        # longer than the client's default 300 s, so give up only after --lm-timeout (and then retry).
        options = {"timeout_s": args.lm_timeout} if args.lm.startswith(("http://", "https://")) else {}
        if args.max_tokens:
            options["max_tokens"] = args.max_tokens
        model = honing.lm(args.lm, **options)
    lm_calls = [0]

    def reflection_lm(prompt, *rest, **kw):  # a plain callable prompt -> str for both engines
        lm_calls[0] += 1
        return model(prompt if isinstance(prompt, str) else _flatten(prompt))

    record = {"engine": args.engine, "task": args.task, "budget": args.budget, "seed": args.seed, "lm": args.lm}
    started = time.perf_counter()
    try:
        runner = run_honing if args.engine == "honing" else run_gepa
        best, engine_best, proposals, engine_calls = runner(task, evaluator, reflection_lm, args)
        record.update(ok=True, wall_clock_s=round(time.perf_counter() - started, 2), engine_best=engine_best,
                      proposals=proposals, engine_metric_calls=engine_calls)
        record["final_score"] = task.final_score(best)
        record["best_candidate"] = best
    except Exception as exc:  # noqa: BLE001 - reported in the JSON line
        record.update(ok=False, wall_clock_s=round(time.perf_counter() - started, 2),
                      error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc()[-3000:])
    record.update(evaluator_calls=counter.calls, evaluator_busy_s=round(counter.busy_s, 2), lm_calls=lm_calls[0])
    sys.stdout.write(json.dumps(record) + "\n")
    return 0


def _flatten(prompt) -> str:
    if isinstance(prompt, dict):
        return str(prompt.get("content", ""))
    if isinstance(prompt, (list, tuple)):
        return "\n".join(_flatten(p) for p in prompt)
    return str(prompt)


if __name__ == "__main__":
    raise SystemExit(main())
