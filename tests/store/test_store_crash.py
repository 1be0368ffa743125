"""The crash test: a real process writing a run is SIGKILLed at random moments and resumed.

Across all attempts a (candidate, example) pair reaches the evaluator again
only when a kill cut its evaluation short (it was never scored), and then at
most ``MAX_ATTEMPTS`` times; finished evaluations never exceed the budget, the
run still spends its whole budget (a crash does not stall it), and the final
Result agrees with what the store holds.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from honing._evaluator_pool import MAX_ATTEMPTS
from honing.store import RunReader

WORKER = Path(__file__).with_name("_crash_worker.py")
ROOT = Path(__file__).resolve().parents[2]
BUDGET = 200


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_sigkill_at_random_moments_never_repeats_or_overspends(tmp_path):
    rng = random.Random(20240605)
    run_dir, log, out = tmp_path / "run", tmp_path / "calls.log", tmp_path / "result.json"
    command = [sys.executable, str(WORKER), str(run_dir), str(log), str(BUDGET), str(out)]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    kills = 0
    deadline = time.monotonic() + 150
    for _ in range(8):
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        before = len(_lines(log))
        # wait until this attempt is really evaluating, then kill it a random moment later
        while proc.poll() is None and len(_lines(log)) <= before and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        _, err = proc.communicate(timeout=60)
        if proc.returncode == 0:
            break
        assert proc.returncode == -signal.SIGKILL, err.decode()[-3000:]
        assert time.monotonic() < deadline, "the crash test ran out of time"
    else:  # every attempt was killed: one last, uninterrupted run finishes the job
        proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=120)
        assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    print(f"killed {kills} times")
    assert kills >= 3, "the run finished before it could be killed several times; make it slower"

    calls = [tuple(line.split("\t")) for line in _lines(log)]
    repeated = {pair: n for pair, n in Counter(calls).items() if n > 1}
    assert all(n <= MAX_ATTEMPTS for n in repeated.values()), repeated
    # A kill cuts short the (at most 4) evaluations running at that moment, and loses the results of the last
    # few milliseconds not yet committed (at these evaluators' speed, at most 4 more): those were never
    # counted, and the ones a resumed run still needs run again. Every other call is a recorded evaluation.
    cut_short = 8 * kills
    assert sum(n - 1 for n in repeated.values()) <= cut_short
    assert len(calls) <= BUDGET + cut_short

    result = json.loads(out.read_text())
    # the crashes did not stall the run: it ended because too little budget was left for one more proposal
    # (a proposal needs a minibatch of 3 evaluations)
    assert result["stop_reason"] == "budget exhausted" and BUDGET - 3 < result["total_metric_calls"] <= BUDGET
    with RunReader(run_dir) as reader:
        assert len(reader.sessions) == kills + 1
        assert reader.metric_calls == result["total_metric_calls"]
        assert reader.pool == result["candidate_ids"]
        best = reader.best_id()
        assert reader.candidates[best].components["candidate"] == result["best_candidate"]
        assert reader.val_mean(best) == result["best_score"]
        assert [reader.val_mean(c) for c in reader.pool] == result["val_scores"]
