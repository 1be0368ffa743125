"""Evaluation backends: run evaluator calls on threads, processes or a Ray cluster.

Pick one with ``EngineConfig(executor="thread" | "process" | "ray")``; the engine
builds it with :func:`make_backend`. Budget, caching and deduplication stay in
the parent process whatever the backend, so the guarantees are identical.
"""

from typing import Any

from ._base import BackendError, EvaluationBackend, ThreadBackend, make_backend


def __getattr__(name: str) -> Any:
    # The process and Ray backends pull in multiprocessing/cloudpickle/ray: load them on first use.
    if name == "ProcessBackend":
        from ._process import ProcessBackend

        return ProcessBackend
    if name == "RayBackend":
        from ._ray import RayBackend

        return RayBackend
    raise AttributeError(f"module 'honing.executors' has no attribute {name!r}")


__all__ = ["BackendError", "EvaluationBackend", "ThreadBackend", "ProcessBackend", "RayBackend", "make_backend"]
