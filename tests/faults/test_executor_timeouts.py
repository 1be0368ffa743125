"""evaluation_timeout_s with the process and Ray executors: the stuck call is recorded as failed and ended.

A thread cannot be killed, so the thread executor abandons a stuck call (its
daemon thread ends when the call does). A worker process or a Ray task can be
ended, and is: before, the process executor kept the stuck process (and its
slot) until the run's end, where closing the pool waited for it forever.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import honing as hn
from honing.store import RunReader
from tests.faults._stuck_evaluator import stuck_on_two_at_b, worker_pid
from tests.helpers import growing_lm


def _gone(pid: int, within_s: float = 10.0) -> bool:
    """True once ``pid`` has exited (a zombie that nobody reaped yet counts as exited)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.1)
    return False


def _run(tmp_path, executor: str, timeout_s: float) -> hn.Result:
    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=20, max_workers=2, executor=executor,
                                              evaluation_timeout_s=timeout_s, run_dir=str(tmp_path / "run")),
                       reflection=hn.ReflectionConfig(reflection_lm=growing_lm()))
    return hn.optimize_anything("@", stuck_on_two_at_b, dataset=["a", "b", "c"], objective="more @", config=config)


def _check(tmp_path, result: hn.Result, started: float, timeout_s: float) -> None:
    assert result.stop_reason == "budget exhausted" and result.best_score > 0.5
    assert time.monotonic() - started < 90
    with RunReader(tmp_path / "run") as reader:
        failed = [e for cid in reader.candidates for e in reader.evaluation_details(cid) if e.error]
    assert len(failed) == 1 and f"evaluation_timeout_s={timeout_s:g} s" in failed[0].error, [e.error for e in failed]
    pid = int((tmp_path / "stuck.pid").read_text())
    assert _gone(pid), f"the stuck worker process {pid} is still running"


@pytest.mark.limit_s(120)
def test_a_process_executor_timeout_kills_the_worker_and_the_run_finishes(tmp_path, monkeypatch):
    pytest.importorskip("cloudpickle")
    monkeypatch.setenv("HONING_TEST_PID_DIR", str(tmp_path))
    started = time.monotonic()
    _check(tmp_path, _run(tmp_path, "process", 2.0), started, 2.0)


@pytest.mark.limit_s(240)
def test_a_ray_executor_timeout_cancels_the_task(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'honing[ray]')")
    monkeypatch.setenv("HONING_TEST_PID_DIR", str(tmp_path))
    root = str(Path(__file__).resolve().parents[2])
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True, logging_level="ERROR",
             log_to_driver=False,
             runtime_env={"env_vars": {"HONING_TEST_PID_DIR": str(tmp_path),
                                       "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}})
    try:
        # The limit counts from when the engine hands the call to Ray, so a cold worker's start (seconds on a
        # busy machine) would count too: start both workers first.
        ray.get([ray.remote(worker_pid).remote() for _ in range(2)])
        started = time.monotonic()
        _check(tmp_path, _run(tmp_path, "ray", 5.0), started, 5.0)
    finally:
        ray.shutdown()
