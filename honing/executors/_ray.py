"""Evaluations as Ray tasks: spread evaluator calls over a machine or a cluster.

Each evaluator call becomes one Ray task; the engine's worker threads wait on
the task results, so ``max_workers`` is how many tasks are in flight at once
and the budget, cache and deduplication stay in the driver. The adapter is put
in the object store once per run and each Ray worker unpickles it once
(cached by a token), so a large evaluator is not re-sent per call.

Tasks run with ``max_retries=0``: Ray's default retries a task whose worker
died, which would run an evaluator twice on the same (candidate, example) —
and a deterministic crash three more times. Instead a crashed worker is
recorded as a failed evaluation and the run continues.

``honing`` must be importable on every Ray worker (install it there, or pass a
``runtime_env`` to ``ray.init`` yourself before the run).
"""

from __future__ import annotations

import logging
import pickle
import uuid
from typing import Any

from .._evaluation import EvaluatorError, Outcome
from ._base import BackendError, acquire_stdio_once, lost_worker_outcome, pack_outcome

logger = logging.getLogger("honing")


def import_ray():
    try:
        import ray
    except ImportError as exc:
        raise ImportError("EngineConfig(executor='ray') needs Ray: pip install 'honing[ray]'") from exc
    return ray


# -- Ray worker side: module state lives as long as the worker process ------------
_adapters: dict[str, Any] = {}


def _ray_evaluate(token: str, boxed_ref: list, components: dict[str, str], example: Any, *history: Any) -> bytes:
    import ray
    from ray import cloudpickle

    adapter = _adapters.get(token)
    if adapter is None:
        adapter = ray.get(boxed_ref[0])  # boxed so Ray does not resolve (and re-send) it on every call
        acquire_stdio_once(adapter)
        _adapters[token] = adapter
    return pack_outcome(adapter, adapter(components, example, *history), cloudpickle.dumps)


# -- driver side --------------------------------------------------------------------
class RayBackend:
    """Runs each evaluation as a Ray task, on a local Ray instance or an existing cluster.

    ``address`` joins a running cluster (``"auto"``, ``"ray://host:10001"``);
    None starts a local instance unless Ray is already initialized (then that
    instance is used and left running). ``resources`` are per-task options for
    ``ray.remote``, e.g. ``{"num_cpus": 2}`` or ``{"resources": {"sandbox": 1}}``.
    """

    name = "ray"

    def __init__(self, address: str | None = None, resources: dict | None = None) -> None:
        ray = import_ray()
        self._ray = ray
        options = dict(resources or {})
        if options.get("max_retries", 0) != 0:
            raise ValueError("ray_resources may not set max_retries: a retried task would evaluate the same "
                             "(candidate, example) twice; a crashed worker is recorded as a failed evaluation")
        options["max_retries"] = 0
        self._started_here = False
        if not ray.is_initialized():
            ray.init(address=address, ignore_reinit_error=True, include_dashboard=False,
                     logging_level=logging.WARNING)
            self._started_here = True
        elif address is not None:
            logger.info("Ray is already initialized; ray_address=%r is ignored and the running instance is used",
                        address)
        self._task = ray.remote(_ray_evaluate).options(**options)
        self._refs: list[Any] = []  # keeps the adapters alive in the object store for the whole run
        lost = ("WorkerCrashedError", "OutOfMemoryError", "NodeDiedError", "ObjectLostError", "OwnerDiedError",
                "TaskCancelledError")
        self._lost_errors = tuple(getattr(ray.exceptions, name) for name in lost if hasattr(ray.exceptions, name))

    def wrap(self, adapter: Any):
        try:
            ref = self._ray.put(adapter)
        except Exception as exc:
            raise BackendError(f"executor='ray' could not serialize the evaluator ({type(exc).__name__}: {exc}); "
                               "make it picklable or use executor='thread'") from exc
        self._refs.append(ref)
        return _RayEvaluate(self, adapter, uuid.uuid4().hex, ref)

    def call(self, adapter: Any, token: str, ref: Any, components: dict[str, str], example: Any,
             *history: Any) -> Outcome:
        ray = self._ray
        try:
            data = ray.get(self._task.remote(token, [ref], components, example, *history))
        except ray.exceptions.RayTaskError as err:
            cause = getattr(err, "cause", None)
            if isinstance(cause, self._lost_errors):
                return lost_worker_outcome(adapter, f"the Ray worker running this evaluation died: {cause}")
            if isinstance(cause, Exception) and (isinstance(cause, EvaluatorError)
                                                 or getattr(adapter, "raise_on_exception", False)):
                raise cause from err  # raise_on_exception=True: the evaluator's own exception stops the run
            raise BackendError(f"the Ray task failed outside the evaluator: {err}") from err
        except self._lost_errors as err:
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            return lost_worker_outcome(adapter, f"the Ray worker running this evaluation died: "
                                                f"{type(err).__name__}: {first_line}")
        return pickle.loads(data)

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
