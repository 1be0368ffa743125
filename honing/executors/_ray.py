"""Evaluations as Ray tasks: spread evaluator calls over a machine or a cluster.

Each evaluator call becomes one Ray task; the engine's worker threads wait on
the task results, so ``max_workers`` is how many tasks are in flight at once
and the budget, cache and deduplication stay in the driver. The adapter is put
in the object store once per run and each Ray worker unpickles it once
(cached by a token), so a large evaluator is not re-sent per call.

Tasks run with ``max_retries=0``: Ray's default retries a task whose worker
died, which would run an evaluator twice on the same (candidate, example) —
and a deterministic crash three more times. Instead a crashed worker is
recorded as a failed evaluation and the run continues. A task the engine gives
up on (``evaluation_timeout_s``, or still running when a stop's grace ends) is
cancelled with ``ray.cancel(force=True)``, which ends its worker process.

``honing`` and the module that defines the evaluator must be importable on
every Ray worker: install them there, or ship them with
``EngineConfig(ray_init_kwargs={"runtime_env": {"working_dir": ".", "pip": ["honing"]}})``.
A worker that cannot import them stops the run with an error that says so
(every later call would fail the same way). ``ray_address=None`` honours
Ray's own ``RAY_ADDRESS`` environment variable.
"""

from __future__ import annotations

import logging
import pickle
import re
import uuid
from typing import Any

from .._evaluation import EvaluatorError, Outcome
from .._workers import current_task
from ._base import BackendError, Evaluate, acquire_stdio_once, lost_worker_outcome, pack_outcome

logger = logging.getLogger("honing.executors")


def import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ImportError("EngineConfig(executor='ray') needs Ray: pip install 'honing[ray]'") from exc
    return ray


# -- Ray worker side: module state lives as long as the worker process ------------
_adapters: dict[str, Any] = {}


def _ray_evaluate(token: str, boxed_ref: list[Any], components: dict[str, str], example: Any, *history: Any) -> bytes:
    import ray
    from ray import cloudpickle

    adapter = _adapters.get(token)
    if adapter is None:
        adapter = ray.get(boxed_ref[0])  # boxed so Ray does not resolve (and re-send) it on every call
        acquire_stdio_once(adapter)
        _adapters[token] = adapter
    return pack_outcome(adapter, adapter(components, example, *history), cloudpickle.dumps)


# -- driver side --------------------------------------------------------------------
_NO_MODULE = re.compile(r"No module named '([^']+)'")


def missing_module(exc: BaseException) -> str | None:
    """The module a Ray worker (or a Ray Client server) could not import, if that is what failed."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ModuleNotFoundError) and current.name:
            return current.name
        found = _NO_MODULE.search(str(current))
        if found:
            return found.group(1)
        current = getattr(current, "cause", None) or current.__cause__ or current.__context__
    return None


def import_error_message(module: str) -> str:
    return (f"the Ray workers cannot import module {module!r}, which the evaluator (or what it references) comes "
            "from: the evaluator is sent by reference, not by value. Install it on the cluster, or ship it with "
            "EngineConfig(ray_init_kwargs={'runtime_env': {'working_dir': '.'}}) (or 'py_modules': [...]; "
            "'pip': [...] for packages, honing included)")



class RayBackend:
    """Runs each evaluation as a Ray task, on a local Ray instance or an existing cluster.

    ``address`` joins a running cluster (``"auto"``, ``"ray://host:10001"``);
    None starts a local instance unless Ray is already initialized (then that
    instance is used and left running). ``resources`` are per-task options for
    ``ray.remote``, e.g. ``{"num_cpus": 2}`` or ``{"resources": {"sandbox": 1}}``.
    """

    name = "ray"

    def __init__(self, address: str | None = None, resources: dict[str, Any] | None = None,
                 init_kwargs: dict[str, Any] | None = None) -> None:
        ray = import_ray()
        self._ray = ray
        options = dict(resources or {})
        if options.get("max_retries", 0) != 0:
            raise ValueError("ray_resources may not set max_retries: a retried task would evaluate the same "
                             "(candidate, example) twice; a crashed worker is recorded as a failed evaluation")
        options["max_retries"] = 0
        self._started_here = False
        init = {"ignore_reinit_error": True, "include_dashboard": False, "logging_level": logging.WARNING,
                **(init_kwargs or {})}
        init.setdefault("address", address)  # None: RAY_ADDRESS if set, else a new local instance
        if not ray.is_initialized():
            logger.debug("ray.init(%s)", ", ".join(f"{k}={v!r}" for k, v in init.items()))
            ray.init(**init)
            self._started_here = True
        elif address is not None or init_kwargs:
            logger.warning("Ray is already initialized, so ray_address / ray_init_kwargs are not applied; the "
                           "running instance is used (call ray.shutdown() first to apply them)")
        self._task = ray.remote(_ray_evaluate).options(**options)
        self._refs: list[Any] = []  # keeps the adapters alive in the object store for the whole run
        lost = ("WorkerCrashedError", "OutOfMemoryError", "NodeDiedError", "ObjectLostError", "OwnerDiedError",
                "TaskCancelledError")
        self._lost_errors = tuple(getattr(ray.exceptions, name) for name in lost if hasattr(ray.exceptions, name))

    def wrap(self, adapter: Any) -> Evaluate:
        try:
            ref = self._ray.put(adapter)
        except Exception as exc:
            missing = missing_module(exc)
            if missing is not None:  # Ray Client: the cluster unpickles it on put
                raise BackendError(import_error_message(missing)) from exc
            raise BackendError(f"executor='ray' could not serialize the evaluator ({type(exc).__name__}: {exc}); "
                               "make it picklable or use executor='thread'") from exc
        self._refs.append(ref)
        return _RayEvaluate(self, adapter, uuid.uuid4().hex, ref)

    def call(self, adapter: Any, token: str, ref: Any, components: dict[str, str], example: Any,
             *history: Any) -> Outcome:
        ray = self._ray
        pending = self._task.remote(token, [ref], components, example, *history)
        task = current_task()
        while task is not None and not ray.wait([pending], timeout=0.1)[0]:
            if task.abandoned:  # a time limit or a stop: end the task rather than let it run on
                ray.cancel(pending, force=True)
                return Outcome(score=float(getattr(adapter, "failure_score", 0.0)), error="abandoned",
                               side_info={"error": "abandoned by the engine; its Ray task was cancelled"})
        try:
            data = ray.get(pending)
        except ray.exceptions.RayTaskError as err:
            cause = getattr(err, "cause", None)
            if isinstance(cause, self._lost_errors):
                return lost_worker_outcome(adapter, f"the Ray worker running this evaluation died: {cause}")
            if isinstance(cause, EvaluatorError):
                raise cause from err
            missing = missing_module(err)
            if missing is not None:  # the worker could not unpickle the evaluator: every call would fail alike
                raise BackendError(import_error_message(missing)) from err
            if isinstance(cause, Exception) and getattr(adapter, "raise_on_exception", False):
                raise cause from err  # raise_on_exception=True: the evaluator's own exception stops the run
            raise BackendError(f"the Ray task failed outside the evaluator: {err}") from err
        except self._lost_errors as err:
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            return lost_worker_outcome(adapter, f"the Ray worker running this evaluation died: "
                                                f"{type(err).__name__}: {first_line}")
        outcome: Outcome = pickle.loads(data)
        return outcome

    def close(self) -> None:
        self._refs.clear()
        if self._started_here and self._ray.is_initialized():
            self._ray.shutdown()


class _RayEvaluate:
    def __init__(self, backend: RayBackend, adapter: Any, token: str, ref: Any) -> None:
        self._backend = backend
        self._token = token
        self._ref = ref
        self.adapter = adapter

    def __call__(self, components: dict[str, str], example: Any, *history: Any) -> Outcome:
        return self._backend.call(self.adapter, self._token, self._ref, components, example, *history)
