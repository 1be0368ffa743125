"""Weights & Biases tracking: one W&B run per honing run.

``wandb.init`` is called in ``on_start`` (not when the tracker is built) so a
run that fails validation never creates an empty W&B run. Set
``WANDB_MODE=offline`` to record locally and ``wandb sync`` later.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ._common import RunTracker


def import_wandb() -> Any:
    try:
        import wandb
    except ImportError as exc:
        raise ImportError("TrackingConfig(use_wandb=True) needs Weights & Biases: pip install 'honing[wandb]'") \
            from exc
    return wandb


class WandbTracker(RunTracker):
    """Logs per-proposal metrics, a summary, and the best candidate (run files and an artifact)."""

    def __init__(self, api_key: str | None = None, init_kwargs: dict[str, Any] | None = None, *,
                 status: Callable[[], Any] | None = None, params: dict[str, str] | None = None) -> None:
        super().__init__(status=status, params=params)
        self._wandb = import_wandb()
        self.api_key = api_key
        self.init_kwargs = dict(init_kwargs or {})
        self.run: Any = None

    def _open(self, params: dict[str, str]) -> None:
        wandb = self._wandb
        if self.api_key:
            wandb.login(key=self.api_key, verify=False)
        kwargs = {"project": "honing", **self.init_kwargs}
        kwargs["config"] = {**params, **dict(kwargs.get("config") or {})}
        self.run = wandb.init(**kwargs)

    def _log(self, metrics: dict[str, float], step: int) -> None:
        self.run.log(metrics)

    def _finish(self, final: dict[str, float], files: dict[str, str], stop_reason: str | None) -> None:
        run, wandb = self.run, self._wandb
        run.summary.update({**final, "stop_reason": stop_reason or ""})
        artifact = wandb.Artifact("honing-best-candidate", type="candidate")
        for name, text in files.items():
            path = os.path.join(run.dir, name)  # files in run.dir are kept (and synced) with the run
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
            artifact.add_file(path, name=name)
        run.log_artifact(artifact)
        run.finish(exit_code=1 if stop_reason == "interrupted" else 0)
