"""Signals and kills: Ctrl-C ends a run within seconds; a run killed any number of times finishes as if never killed.

The runs are real subprocesses (``bench/_faults_worker.py``: a deterministic
scripted LM and evaluator, every evaluator call logged as it starts) killed
with SIGKILL, at random moments or at chosen evaluator calls, and resumed.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from bench.faults import run_once
from honing._evaluator_pool import MAX_ATTEMPTS
from honing.store import RunReader

ROOT = Path(__file__).resolve().parents[2]
WORKER = ROOT / "bench" / "_faults_worker.py"
SIGINT_RUN = Path(__file__).with_name("_sigint_run.py")
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "0"}


@pytest.mark.limit_s(90)
def test_ctrl_c_with_an_evaluation_and_an_lm_call_stuck_ends_within_seconds(tmp_path):
    run_dir, marks, result = tmp_path / "run", tmp_path / "marks", tmp_path / "result.json"
    proc = subprocess.Popen([sys.executable, str(SIGINT_RUN), str(run_dir), str(marks), str(result)], cwd=ROOT,
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (marks.exists() and {"evaluation", "lm"} <= set(marks.read_text().split())):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1].decode()[-3000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    interrupted = time.monotonic()
    _, err = proc.communicate(timeout=30)
    elapsed = time.monotonic() - interrupted
    assert proc.returncode == 0, err.decode()[-3000:]
    assert elapsed < 1.0 + 4, f"{elapsed:.1f} s from SIGINT to exit"  # stop_grace_s=1
    data = json.loads(result.read_text())
    assert data["stop_reason"] == "interrupted" and data["best_score"] is not None
    with RunReader(run_dir) as reader:
        assert reader.metric_calls == data["total_metric_calls"]
        assert [reader.candidates[cid].components["candidate"] for cid, _ in reader.pending] == ["@@"]
        assert not reader.live and all(s.get("closed_at") for s in reader.sessions)
    assert sqlite3.connect(run_dir / "honing.db").execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _worker(tmp_path: Path, name: str, *args: str) -> tuple[list[int], dict, list[list[str]]]:
    """Run the worker until it finishes (resuming after each SIGKILL); returns exit codes, result, call log."""
    run_dir, log, result = tmp_path / name, tmp_path / f"{name}.calls", tmp_path / f"{name}.json"
    command = [sys.executable, str(WORKER), str(run_dir), "--log", str(log), "--result", str(result),
               "--eval-delay", "0", "--lm-delay", "0", *args]
    codes: list[int] = []
    for _ in range(10):
        proc = subprocess.run(command, cwd=ROOT, env=ENV, capture_output=True, timeout=120, check=False)
        codes.append(proc.returncode)
        if proc.returncode != -signal.SIGKILL:
            assert proc.returncode == 0, proc.stderr.decode()[-3000:]
            break
    return codes, json.loads(result.read_text()), [line.split("\t") for line in log.read_text().splitlines()]


def _summary(data: dict) -> tuple:
    return data["best_candidate"], data["best_score"], data["total_metric_calls"]


@pytest.mark.limit_s(180)
def test_a_sequential_run_killed_at_chosen_moments_ends_where_an_uninterrupted_one_ends(tmp_path):
    args = ("--budget", "80", "--sequential", "--seed", "3")
    _, clean, _ = _worker(tmp_path, "clean", *args)
    assert clean["total_metric_calls"] == 80
    # in the seed's scoring, in a proposal, in a validation race, at the very last evaluation
    for die_at in (4, 23, 37, 52, 80):
        codes, killed, _ = _worker(tmp_path, f"die{die_at}", *args, "--die-on-call", str(die_at))
        assert codes == [-signal.SIGKILL, 0]
        assert _summary(killed) == _summary(clean), f"killed at call {die_at}"


@pytest.mark.limit_s(240)
@pytest.mark.parametrize("mode", ["sequential", "parallel"])
def test_a_run_killed_at_random_moments_repeats_only_what_was_cut_short(tmp_path, mode):
    args = ["--budget", "120", "--seed", "1", "--eval-delay", "0.01", "--lm-delay", "0.005"]
    args += ["--sequential"] if mode == "sequential" else ["--workers", "4"]
    rng = random.Random(f"faults:{mode}")
    clean = run_once(tmp_path, "clean", args, 0, 0.0, rng, limit_s=100)
    killed = run_once(tmp_path, "killed", args, 6, 2 * clean.evaluating_s / 6, rng, limit_s=150)
    assert killed.kills >= 3, "the run finished before it could be killed several times"
    assert clean.retried == clean.other_repeats == 0
    assert killed.other_repeats == 0  # every repeated call follows a call a kill cut short
    assert killed.max_starts <= MAX_ATTEMPTS
    assert killed.stop_reason == clean.stop_reason == "budget exhausted"  # no stall
    if mode == "sequential":  # the run is a function of its seed: it ends exactly where the clean one ends
        assert killed.budget_used == clean.budget_used == 120
        assert (killed.best_candidate, killed.best_score) == (clean.best_candidate, clean.best_score)
    else:  # thread timing decides which proposals run, killed or not; the last may find fewer units left
        # than a minibatch needs (3 here), so a run can end a unit or two under the budget, never over it
        assert 120 - 3 < killed.budget_used <= 120 and 120 - 3 < clean.budget_used <= 120


@pytest.mark.limit_s(120)
def test_evaluations_waiting_in_the_queue_at_a_kill_are_not_charged_an_attempt(tmp_path):
    """Killed three times at its first evaluator call (the seed's first validation example), with one worker.

    Only that evaluation is charged (and recorded as failed after MAX_ATTEMPTS); before, all ten of the
    seed's validation evaluations were marked started together, charged at each kill, and all recorded
    as failures.
    """
    codes, data, _ = _worker(tmp_path, "run", "--budget", "40", "--sequential", "--die-on-call", "1",
                                 "--die-times", str(MAX_ATTEMPTS))
    assert codes == [-signal.SIGKILL] * MAX_ATTEMPTS + [0]
    with RunReader(tmp_path / "run") as reader:
        failed = [e for cid in reader.candidates for e in reader.evaluation_details(cid) if e.error]
    assert len(failed) == 1 and f"started {MAX_ATTEMPTS} times" in failed[0].error
    assert data["total_metric_calls"] == 40


@pytest.mark.limit_s(120)
def test_an_evaluator_that_kills_its_process_every_time_is_given_up_on_and_the_run_finishes(tmp_path):
    """The seed's evaluation on "waltz" SIGKILLs the process every time, while 3 other evaluations run beside it.

    After MAX_ATTEMPTS starts it is recorded as failed and the run finishes. The evaluations that were
    running beside it are retried one at a time, so only the culprit is charged: none of them is failed.
    """
    codes, data, calls = _worker(tmp_path, "run", "--budget", "60", "--workers", "4", "--eval-delay", "0.05",
                                 "--die-on", "<<e>>:waltz")
    assert codes == [-signal.SIGKILL] * MAX_ATTEMPTS + [0]
    with RunReader(tmp_path / "run") as reader:
        failed = [(reader.candidates[e.candidate_id].components["candidate"], e.error)
                  for cid in reader.candidates for e in reader.evaluation_details(cid) if e.error]
        assert reader.metric_calls == 60 and not reader.pending
    assert len(failed) == 1 and failed[0][0] == "<<e>>" and f"started {MAX_ATTEMPTS} times" in failed[0][1]
    starts = Counter((digest, example) for _, digest, example in calls)
    assert max(starts.values()) <= MAX_ATTEMPTS
    assert data["total_metric_calls"] == 60
