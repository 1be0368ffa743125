"""Kill -9 a run at random moments, resume it each time, and compare it with a run never killed.

    python bench/faults.py [--kills 20] [--budget 300] [--seed 0] [--runs-dir DIR]

For each mode (sequential: ``parallel=False``; parallel: 4 workers, several
proposals in flight) one uninterrupted run and one run SIGKILLed ``--kills``
times at random moments (each resume is killed again, uniformly within the
first ``--window`` seconds of its evaluations) run the same seeded workload
(``bench/_faults_worker.py``: a deterministic scripted LM, a deterministic
evaluator). The table reports, per mode:

* evaluator calls: every real call, the ones cut short by a kill included;
* repeated: calls of a (candidate, example) pair that had been called
  before. "retried" ones follow a call a kill cut short (never scored, so
  run again; at most MAX_ATTEMPTS starts in all); "other" must be 0;
* budget used: finished evaluations in the store (never above the budget,
  and equal to the uninterrupted run's);
* best score of the killed run and of the uninterrupted one: equal for the
  sequential mode (the run is a function of its seed), close for parallel
  (thread timing changes which proposals see which results).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("_faults_worker.py")
sys.path.insert(0, str(ROOT))

from honing._evaluator_pool import MAX_ATTEMPTS  # noqa: E402 (after the sys.path line above)
from honing.store import RunReader  # noqa: E402


@dataclass
class Outcome:
    mode: str
    kills: int = 0
    sessions: int = 0
    calls: int = 0
    retried: int = 0
    other_repeats: int = 0
    max_starts: int = 0
    budget_used: int = 0
    best_score: float | None = None
    best_candidate: str | None = None
    stop_reason: str | None = None
    wall_s: float = 0.0
    evaluating_s: float = 0.0  # from the first evaluator call to the end (the uninterrupted run's sets the window)
    killed_pids: set[int] = field(default_factory=set)


def _lines(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text().splitlines()] if path.exists() else []


def run_once(base: Path, name: str, worker_args: list[str], kills: int, window_s: float, rng: random.Random,
             limit_s: float) -> Outcome:
    run_dir, log, result = base / name, base / f"{name}.calls", base / f"{name}.json"
    shutil.rmtree(run_dir, ignore_errors=True)
    for stale in (log, result):
        stale.unlink(missing_ok=True)
    command = [sys.executable, str(WORKER), str(run_dir), "--log", str(log), "--result", str(result), *worker_args]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "0"}
    outcome = Outcome(mode=name)
    started = time.monotonic()
    deadline = started + limit_s
    while True:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        outcome.sessions += 1
        before = len(_lines(log))
        while proc.poll() is None and len(_lines(log)) <= before and time.monotonic() < deadline:
            time.sleep(0.005)  # wait until this session really evaluates, then kill it a random moment later
        first_call = time.monotonic()
        if outcome.kills < kills:
            time.sleep(rng.uniform(0.0, window_s))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                outcome.kills += 1
                outcome.killed_pids.add(proc.pid)
        try:
            _, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            raise SystemExit(f"{name}: a session ran past the {limit_s:g} s limit (a hang)") from None
        if proc.returncode == 0:
            break
        if proc.returncode != -signal.SIGKILL:
            raise SystemExit(f"{name}: a session failed (exit {proc.returncode}):\n{err.decode()[-3000:]}")
    outcome.wall_s = time.monotonic() - started
    outcome.evaluating_s = time.monotonic() - first_call
    _account(outcome, _lines(log))
    data = json.loads(result.read_text())
    outcome.best_score, outcome.best_candidate = data["best_score"], data["best_candidate"]
    outcome.stop_reason = data["stop_reason"]
    with RunReader(run_dir) as reader:
        outcome.budget_used = reader.metric_calls
    return outcome


def _account(outcome: Outcome, calls: list[list[str]]) -> None:
    """Count the calls and sort every repeat: after a killed call (a retry) or not (a bug)."""
    previous: dict[tuple[str, str], str] = {}
    starts: dict[tuple[str, str], int] = defaultdict(int)
    killed = {str(pid) for pid in outcome.killed_pids}
    for pid, digest, example in calls:
        pair = (digest, example)
        starts[pair] += 1
        if pair in previous:
            if previous[pair] in killed:
                outcome.retried += 1
            else:
                outcome.other_repeats += 1
        previous[pair] = pid
    outcome.calls = len(calls)
    outcome.max_starts = max(starts.values(), default=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0, help="the runs' seed and the kill moments' seed")
    parser.add_argument("--window", type=float, default=None,
                        help="each kill comes uniformly within this many seconds after a session starts evaluating "
                             "(default: twice the uninterrupted run's evaluating time divided by --kills, so the "
                             "kills spread over the whole run)")
    parser.add_argument("--runs-dir", help="keep the runs here (default: a temporary directory)")
    parser.add_argument("--limit", type=float, default=600, help="seconds one killed-and-resumed run may take")
    args = parser.parse_args(argv)

    base = Path(args.runs_dir or tempfile.mkdtemp(prefix="honing-faults-"))
    base.mkdir(parents=True, exist_ok=True)
    common = ["--budget", str(args.budget), "--seed", str(args.seed), "--eval-delay", "0.01", "--lm-delay", "0.01"]
    modes = {"sequential": [*common, "--sequential"], "parallel": [*common, "--workers", "4"]}
    load_before = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else ["?"] * 3
    rows = []
    for mode, worker_args in modes.items():
        rng = random.Random(f"{args.seed}:{mode}")
        clean = run_once(base, f"{mode}-uninterrupted", worker_args, 0, 0.0, rng, args.limit)
        window = args.window if args.window is not None else 2 * clean.evaluating_s / max(1, args.kills)
        killed = run_once(base, f"{mode}-killed", worker_args, args.kills, window, rng, args.limit)
        rows.append((mode, clean, killed))
    load_after = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else ["?"] * 3

    print(f"budget {args.budget}, {args.kills} kills per killed run, seed {args.seed}; runs in {base}")
    print(f"load average before {' '.join(load_before)}, after {' '.join(load_after)}")
    header = ("| mode | kills | sessions | evaluator calls (killed / uninterrupted) | repeated: retried / other "
              "| most starts of one pair | budget used (killed / uninterrupted) | best score (killed / "
              "uninterrupted) | same best | wall s (killed / uninterrupted) |")
    print(header)
    print("|---|---:|---:|---:|---:|---:|---:|---:|:---:|---:|")
    failures = []
    for mode, clean, killed in rows:
        same = killed.best_score == clean.best_score and killed.best_candidate == clean.best_candidate
        print(f"| {mode} | {killed.kills} | {killed.sessions} | {killed.calls} / {clean.calls} | "
              f"{killed.retried} / {killed.other_repeats} | {killed.max_starts} | "
              f"{killed.budget_used} / {clean.budget_used} | {killed.best_score:.4f} / {clean.best_score:.4f} | "
              f"{'yes' if same else 'no'} | {killed.wall_s:.1f} / {clean.wall_s:.1f} |")
        if killed.other_repeats or clean.other_repeats or clean.retried:
            failures.append(f"{mode}: a pair was evaluated again without a kill cutting it short")
        if killed.max_starts > MAX_ATTEMPTS:
            failures.append(f"{mode}: a pair was started {killed.max_starts} times (limit {MAX_ATTEMPTS})")
        # a parallel run's last proposal may find fewer units left than a minibatch needs: a unit or two unspent
        if mode == "sequential":
            short = killed.budget_used != clean.budget_used
        else:
            short = killed.budget_used < args.budget - 3
        if killed.budget_used > args.budget or short or killed.stop_reason != "budget exhausted":
            failures.append(f"{mode}: budget used {killed.budget_used}, uninterrupted {clean.budget_used}")
        if mode == "sequential" and not same:
            failures.append(f"sequential: best {killed.best_candidate!r} {killed.best_score} after kills, "
                            f"{clean.best_candidate!r} {clean.best_score} uninterrupted")
    for failure in failures:
        print("FAILED:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
