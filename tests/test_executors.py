"""Process and Ray backends keep every guarantee the thread backend gives.

The evaluators here are built by factory functions, so cloudpickle ships them
by value (a worker process or Ray worker need not import this test module).
Evaluator calls are counted through a file opened with O_APPEND: the calls
happen in other processes, where a counter in this process would see nothing.
"""

from __future__ import annotations

import os
import sys
import threading

import pytest

import honing as hn
from honing.executors import BackendError, ThreadBackend, make_backend
from tests.helpers import growing_lm

CRASH_EXAMPLE = 3
RAISE_EXAMPLE = 4


def make_evaluator(calls_path: str):
    """Scores by the number of '@'; logs and prints; raises on example 4; dies on (@@, example 3)."""

    def evaluate(candidate, example):
        fd = os.open(calls_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, f"{os.getpid()}\t{candidate}\t{example}\n".encode())
        finally:
            os.close(fd)
        if example == 3 and candidate == "@@":
            os._exit(1)  # the worker dies mid-evaluation, without any cleanup
        hn.log(f"checked example {example} in pid {os.getpid()}")
        print(f"stdout for {example}")
        if example == 4:
            raise ValueError(f"example 4 is broken (len {len(candidate)})")
        return min(candidate.count("@"), 10) / 10, {"example": example}

    return evaluate


def read_calls(path) -> list[tuple[int, str, str]]:
    if not os.path.exists(path):
        return []
    with open(path) as handle:
        return [(int(pid), cand, ex) for pid, cand, ex in (line.rstrip("\n").split("\t") for line in handle)]


class Recorder:
    def __init__(self) -> None:
        self.evaluations = []
        self._lock = threading.Lock()

    def on_evaluation(self, record) -> None:
        with self._lock:
            self.evaluations.append(record)


@pytest.fixture(scope="module")
def ray_instance():
    """One local Ray instance for the whole module: starting Ray takes seconds."""
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'honing[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True, logging_level="ERROR",
             log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(params=["process", "ray"])
def executor(request):
    if request.param == "ray":
        request.getfixturevalue("ray_instance")
    return request.param


def run(executor: str, calls_path, budget: int = 20, callbacks=(), **engine):
    config = hn.Config(
        engine=hn.EngineConfig(max_metric_calls=budget, executor=executor, max_workers=2, capture_stdio=True,
                               **engine),
        reflection=hn.ReflectionConfig(reflection_lm=growing_lm()), callbacks=list(callbacks),
    )
    return hn.optimize_anything("@", make_evaluator(str(calls_path)), dataset=[1, 2, 3, 4], config=config)


def test_same_guarantees_as_threads(executor, tmp_path):
    calls_path = tmp_path / "calls.txt"
    recorder = Recorder()
    result = run(executor, calls_path, budget=30, callbacks=[recorder])

    calls = read_calls(calls_path)
    assert len(calls) == result.total_metric_calls <= 30  # the hard budget holds across processes
    assert len({(cand, ex) for _, cand, ex in calls}) == len(calls)  # never twice per (candidate, example)
    assert os.getpid() not in {pid for pid, _, _ in calls}  # the evaluator really ran elsewhere

    by_pair = {(r.candidate_id, r.example_key): r for r in recorder.evaluations}
    assert len(by_pair) == len(recorder.evaluations) == len(calls)
    died = [r for r in recorder.evaluations if r.error and "died" in r.error]
    assert len(died) == 1, [r.error for r in recorder.evaluations]
    assert died[0].score == 0.0 and "died" in died[0].side_info["error"]
    raised = [r for r in recorder.evaluations if r.error and r.error.startswith("ValueError")]
    assert raised and all("example 4 is broken" in r.side_info["traceback"] for r in raised)
    assert all("checked example 4" in r.side_info["log"] for r in raised)  # hn.log survives the exception
    ok = [r for r in recorder.evaluations if r.error is None]
    assert ok and all("checked example" in r.side_info["log"] and "stdout for" in r.side_info["stdout"]
                      for r in ok)
    # the run went on after the crash: later candidates were scored on the crashing example
    crash_ids = {r.candidate_id for r in died}
    assert any(r.error is None and r.side_info.get("example") == CRASH_EXAMPLE and r.candidate_id > max(crash_ids)
               for r in ok)
    assert result.best_score is not None and result.best_score > 0.2


def test_thread_backend_runs_the_same_evaluations(tmp_path):
    """The baseline the other backends are compared with (no crash: it would kill this process)."""
    calls_path = tmp_path / "calls.txt"
    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=12, max_workers=2, capture_stdio=True),
                       reflection=hn.ReflectionConfig(reflection_lm=growing_lm(step=2)))
    recorder = Recorder()
    config = config.replace(callbacks=[recorder])
    result = hn.optimize_anything("@", make_evaluator(str(calls_path)), dataset=[1, 2, 4], config=config)
    assert len(read_calls(calls_path)) == result.total_metric_calls <= 12
    assert all("checked example" in r.side_info["log"] for r in recorder.evaluations)


@pytest.mark.parametrize("kind", ["process", "ray"])
def test_raise_on_exception_propagates(kind, tmp_path, request):
    if kind == "ray":
        request.getfixturevalue("ray_instance")
    with pytest.raises(ValueError, match="example 4 is broken") as raised:  # the evaluator's own exception
        run(kind, tmp_path / "calls.txt", budget=8, raise_on_exception=True)
    assert type(raised.value) is ValueError


def test_process_backend_needs_a_picklable_evaluator():
    lock = threading.Lock()

    def evaluate(candidate):
        with lock:
            return 1.0

    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=3, executor="process"),
                       reflection=hn.ReflectionConfig(reflection_lm=growing_lm()))
    with pytest.raises(BackendError, match="could not be pickled"):
        hn.optimize_anything("@", evaluate, config=config)


def test_unpicklable_output_is_a_failed_evaluation_not_a_crash(tmp_path):
    def evaluate(candidate):
        hn.log("made a generator")
        return 0.5, (x for x in range(3)), {"note": "fine"}

    recorder = Recorder()
    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=2, executor="process", max_workers=1),
                       reflection=hn.ReflectionConfig(reflection_lm=growing_lm()), callbacks=[recorder])
    hn.optimize_anything("@", evaluate, config=config)
    first = recorder.evaluations[0]
    assert "could not be sent back" in first.error and first.side_info["log"] == "made a generator\n"


def test_thread_backend_is_the_identity_and_make_backend_follows_the_config():
    adapter = object()
    assert ThreadBackend().wrap(adapter) is adapter
    assert isinstance(make_backend(hn.EngineConfig()), ThreadBackend)
    backend = make_backend(hn.EngineConfig(executor="process", max_workers=3))
    try:
        assert backend.name == "process" and backend.workers == 3
    finally:
        backend.close()


def test_missing_ray_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` raise ImportError
    with pytest.raises(ImportError, match=r"pip install 'honing\[ray\]'"):
        make_backend(hn.EngineConfig(executor="ray"))


def test_ray_retries_are_refused(ray_instance):
    from honing.executors import RayBackend

    with pytest.raises(ValueError, match="max_retries"):
        RayBackend(resources={"max_retries": 3})


def test_ray_init_kwargs_reach_ray_init(monkeypatch):
    import types

    calls: list[dict] = []
    fake = types.SimpleNamespace(
        is_initialized=lambda: False, init=lambda **kw: calls.append(kw), shutdown=lambda: None,
        remote=lambda fn: types.SimpleNamespace(options=lambda **kw: fn),
        exceptions=types.SimpleNamespace(RayTaskError=RuntimeError),
    )
    monkeypatch.setitem(sys.modules, "ray", fake)
    env = {"working_dir": ".", "pip": ["honing"]}
    make_backend(hn.EngineConfig(executor="ray", ray_init_kwargs={"runtime_env": env, "namespace": "n"}))
    make_backend(hn.EngineConfig(executor="ray", ray_address="ray://head:10001",
                                 ray_init_kwargs={"logging_level": "ERROR"}))
    assert calls[0]["runtime_env"] == env and calls[0]["namespace"] == "n" and calls[0]["address"] is None
    assert calls[1]["address"] == "ray://head:10001" and calls[1]["logging_level"] == "ERROR"
    assert calls[1]["include_dashboard"] is False  # honing's defaults stay unless overridden


def test_ray_init_kwargs_are_checked():
    with pytest.raises(hn.ConfigError, match="ray_init_kwargs must be a dict"):
        hn.EngineConfig(ray_init_kwargs=["runtime_env"])
    with pytest.raises(hn.ConfigError, match="give the address once"):
        hn.EngineConfig(ray_address="auto", ray_init_kwargs={"address": "ray://elsewhere:10001"})
    hn.EngineConfig(ray_address="auto", ray_init_kwargs={"address": "auto"})


def test_a_worker_that_cannot_import_the_evaluators_module_says_so(ray_instance, tmp_path, monkeypatch):
    """The evaluator travels by reference: workers that cannot import its module get a runtime_env hint."""
    (tmp_path / "only_here_evaluator.py").write_text("def evaluate(candidate):\n    return 0.5\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # importable in this process only, not on the workers
    from only_here_evaluator import evaluate

    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=3, executor="ray", max_workers=1),
                       reflection=hn.ReflectionConfig(reflection_lm=growing_lm()))
    with pytest.raises(BackendError, match=r"cannot import module 'only_here_evaluator'.*runtime_env"):
        hn.optimize_anything("@", evaluate, config=config)
