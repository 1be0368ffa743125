"""Evaluations in worker processes: true CPU parallelism for pure-Python evaluators.

Why one single-process ``ProcessPoolExecutor`` per worker slot rather than one
pool of N processes: when a worker dies (``os._exit``, a segfault, the OOM
killer) a shared pool breaks *every* call in flight, and nothing says which
call killed it. With one process per slot, a broken pool has exactly one
victim — the call that was running in it — so only that evaluation is recorded
as failed, the slot gets a fresh process, and the other evaluations carry on.

The adapter (the user's evaluator included) is pickled with cloudpickle once,
in ``wrap``, and sent to each worker process only on its first call there; the
worker keeps the unpickled adapter for the rest of its life. Examples are
pickled once per example in the parent. Processes are started with ``spawn``
(no inherited locks or threads from the busy parent) and ignore SIGINT, so
Ctrl-C stops the run the same way it does with threads: the engine stops
planning and waits for the evaluations already running. An evaluation the
engine gives up on (``evaluation_timeout_s``, or still running when a stop's
grace ends) has its worker process killed, and the slot gets a fresh one.
"""

from __future__ import annotations

import multiprocessing
import pickle
import queue
import signal
import threading
import uuid
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from .._evaluation import Outcome
from .._workers import current_task
from ._base import BackendError, Evaluate, acquire_stdio_once, lost_worker_outcome, pack_outcome

_POLL_S = 0.1  # how often a waiting call checks whether the engine gave up on it


def import_cloudpickle() -> Any:
    try:
        import cloudpickle
    except ImportError as exc:
        raise ImportError("EngineConfig(executor='process') ships the evaluator to worker processes with "
                          "cloudpickle: pip install cloudpickle") from exc
    return cloudpickle


# -- worker process side --------------------------------------------------------
_adapters: dict[str, Any] = {}


def _worker_init() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _worker_call(token: str, payload: bytes | None, components: dict[str, str], example_bytes: bytes,
                 *history: Any) -> bytes:
    adapter = _adapters.get(token)
    if adapter is None:
        if payload is None:  # the parent tracks what each process holds, so this means a logic error
            raise BackendError("the worker process has no evaluator loaded for this run")
        try:
            adapter = pickle.loads(payload)
        except Exception as exc:
            raise BackendError(f"the worker process could not load the evaluator ({type(exc).__name__}: {exc}); "
                               "everything the evaluator uses must be importable in a fresh Python process") from None
        acquire_stdio_once(adapter)
        _adapters[token] = adapter
    example = pickle.loads(example_bytes)
    import cloudpickle

    return pack_outcome(adapter, adapter(components, example, *history), cloudpickle.dumps)


# -- parent side ------------------------------------------------------------------
class _Slot:
    def __init__(self, index: int) -> None:
        self.index = index
        self.executor: ProcessPoolExecutor | None = None
        self.loaded: set[str] = set()  # adapter tokens this slot's process has unpickled


class ProcessBackend:
    """Runs each evaluation in one of ``workers`` spawned worker processes."""

    name = "process"

    def __init__(self, workers: int) -> None:
        if not isinstance(workers, int) or workers < 1:
            raise ValueError(f"ProcessBackend needs workers >= 1, got {workers!r}")
        self._cloudpickle = import_cloudpickle()
        self.workers = workers
        self._context = multiprocessing.get_context("spawn")
        self._free: queue.Queue[_Slot] = queue.Queue()
        self._slots = [_Slot(i) for i in range(workers)]
        for slot in self._slots:
            self._free.put(slot)
        self._payloads: dict[str, bytes] = {}
        self._examples: dict[int, tuple[Any, bytes]] = {}  # id -> (the example, kept alive; its pickle)
        self._lock = threading.Lock()
        self._closed = False
        self.restarts = 0

    def wrap(self, adapter: Any) -> Evaluate:
        try:
            payload = self._cloudpickle.dumps(adapter)
        except Exception as exc:
            raise BackendError(
                f"executor='process' sends the evaluator to worker processes, but it could not be pickled "
                f"({type(exc).__name__}: {exc}); make the evaluator and what it references picklable "
                "(no open files, locks or sockets captured), or use executor='thread'") from exc
        token = uuid.uuid4().hex
        with self._lock:
            self._payloads[token] = payload
        return _ProcessEvaluate(self, adapter, token)

    def _example_bytes(self, example: Any) -> bytes:
        with self._lock:
            cached = self._examples.get(id(example))
            if cached is not None and cached[0] is example:
                return cached[1]
        try:
            data: bytes = self._cloudpickle.dumps(example)
        except Exception as exc:
            raise BackendError(f"executor='process' could not pickle a dataset example ({type(exc).__name__}: "
                               f"{exc}); examples must be picklable, or use executor='thread'") from exc
        with self._lock:
            self._examples[id(example)] = (example, data)
        return data

    def call(self, adapter: Any, token: str, components: dict[str, str], example: Any, *history: Any) -> Outcome:
        example_bytes = self._example_bytes(example)
        slot = self._free.get()
        try:
            if self._closed:
                raise BackendError("the process backend was closed; no more evaluations can run")
            if slot.executor is None:
                slot.executor = ProcessPoolExecutor(max_workers=1, mp_context=self._context,
                                                    initializer=_worker_init)
                slot.loaded = set()
            payload = None if token in slot.loaded else self._payloads[token]
            future = slot.executor.submit(_worker_call, token, payload, components, example_bytes, *history)
            processes = list(getattr(slot.executor, "_processes", {}).values())  # to report how it died
            try:
                data = self._result(future, slot, processes)
            except _Abandoned:
                return Outcome(score=float(getattr(adapter, "failure_score", 0.0)), error="abandoned",
                               side_info={"error": "abandoned by the engine; its worker process was killed"})
            except BrokenProcessPool as exc:
                self._discard(slot)
                return lost_worker_outcome(adapter, f"the worker process died: {_how_it_died(processes, exc)}. "
                                                    "This evaluation is recorded as failed and a fresh worker "
                                                    "process was started.")
            slot.loaded.add(token)
            outcome: Outcome = pickle.loads(data)
            return outcome
        finally:
            self._free.put(slot)

    def _result(self, future: Any, slot: _Slot, processes: list[Any]) -> bytes:
        """The worker's answer; if the engine abandons this evaluation meanwhile, its process is killed."""
        task = current_task()
        while True:
            try:
                data: bytes = future.result(timeout=None if task is None else _POLL_S)
                return data
            except FutureTimeout:
                if task is not None and task.abandoned:
                    running = getattr(slot.executor, "_processes", None) or {}
                    for process in {*processes, *running.values()}:
                        process.kill()
                    self._discard(slot)
                    raise _Abandoned() from None

    def _discard(self, slot: _Slot) -> None:
        if slot.executor is not None:
            slot.executor.shutdown(wait=False, cancel_futures=True)
        slot.executor = None
        slot.loaded = set()
        self.restarts += 1

    def close(self) -> None:
        """Stop every worker process; waits for calls still running (the engine has none left by then)."""
        self._closed = True
        for slot in self._slots:
            if slot.executor is not None:
                slot.executor.shutdown(wait=True, cancel_futures=True)
                slot.executor = None


class _Abandoned(Exception):
    """The engine gave up on the evaluation and its worker process was killed."""


class _ProcessEvaluate:
    """The wrapped adapter: same call signature, runs in a worker process."""

    def __init__(self, backend: ProcessBackend, adapter: Any, token: str) -> None:
        self._backend = backend
        self._token = token
        self.adapter = adapter

    def __call__(self, components: dict[str, str], example: Any, *history: Any) -> Outcome:
        return self._backend.call(self.adapter, self._token, components, example, *history)


def _how_it_died(processes: list[Any], error: BaseException) -> str:
    for process in processes:
        process.join(timeout=2)
        code = process.exitcode
        if code is None or code == 0:
            continue
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name} while running the evaluator"
            except ValueError:
                return f"killed by signal {-code} while running the evaluator"
        return f"exit code {code} while running the evaluator (os._exit, sys.exit from a thread, or a crash)"
    return f"{type(error).__name__}: {error}"
