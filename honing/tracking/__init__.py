"""Experiment tracking callbacks: MLflow and Weights & Biases, and the run's log lines.

The engine adds them from ``TrackingConfig(use_mlflow=..., use_wandb=...)``;
they are ordinary callbacks, so ``Config(callbacks=[MLflowTracker(...)])``
works too. Like any callback, a tracker that raises stops the run (with the
error re-raised): a tracking backend that silently stops recording would be
found out only after an expensive run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._common import RunTracker, flat_params
from ._log import RunLogger


def __getattr__(name: str) -> Any:
    if name == "MLflowTracker":
        from ._mlflow import MLflowTracker

        return MLflowTracker
    if name == "WandbTracker":
        from ._wandb import WandbTracker

        return WandbTracker
    raise AttributeError(f"module 'honing.tracking' has no attribute {name!r}")


def make_trackers(config: Any, status: Callable[[], Any] | None = None) -> list[Any]:
    """The run's log lines plus the trackers ``config.tracking`` asks for; ``status`` is the engine's ``status()``."""
    tracking = config.tracking
    trackers: list[Any] = [RunLogger(status)]
    if not (tracking.use_mlflow or tracking.use_wandb):
        return trackers
    params = flat_params(config.to_dict())
    if tracking.use_mlflow:
        from ._mlflow import MLflowTracker

        trackers.append(MLflowTracker(tracking.mlflow_tracking_uri, tracking.mlflow_experiment_name,
                                      status=status, params=params))
    if tracking.use_wandb:
        from ._wandb import WandbTracker

        trackers.append(WandbTracker(tracking.wandb_api_key, tracking.wandb_init_kwargs, status=status,
                                     params=params))
    return trackers


__all__ = ["RunLogger", "RunTracker", "MLflowTracker", "WandbTracker", "make_trackers"]
