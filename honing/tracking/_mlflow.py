"""MLflow tracking through ``MlflowClient`` with an explicit run id.

The fluent ``mlflow.log_metric`` API keeps an "active run" in global (and
per-thread) state; engine events arrive from several threads and the user
may have their own active run, so this tracker never touches that state.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ._common import RunTracker


def import_mlflow() -> Any:
    try:
        import mlflow
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise ImportError("TrackingConfig(use_mlflow=True) needs MLflow: pip install 'honing[mlflow]'") from exc
    return mlflow, MlflowClient


class MLflowTracker(RunTracker):
    """Logs a honing run as one MLflow run: params, per-proposal metrics, best candidate artifact."""

    def __init__(self, tracking_uri: str | None = None, experiment_name: str | None = None, *,
                 run_name: str | None = None, status: Callable[[], Any] | None = None,
                 params: dict[str, str] | None = None) -> None:
        super().__init__(status=status, params=params)
        self._mlflow, client_cls = import_mlflow()
        self.client = client_cls(tracking_uri=tracking_uri)
        self.experiment_name = experiment_name or "honing"
        self.run_name = run_name
        self.run_id: str | None = None

    def _open(self, params: dict[str, str]) -> None:
        experiment = self.client.get_experiment_by_name(self.experiment_name)
        experiment_id = (experiment.experiment_id if experiment is not None
                         else self.client.create_experiment(self.experiment_name))
        run = self.client.create_run(experiment_id, run_name=self.run_name, tags={"honing": "optimize_anything"})
        self.run_id = run.info.run_id
        if params:
            from mlflow.entities import Param

            items = [Param(key, value) for key, value in params.items()]
            for start in range(0, len(items), 100):  # MLflow caps params per batch at 100
                self.client.log_batch(self.run_id, params=items[start:start + 100])

    def _log(self, metrics: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, v, now, step) for k, v in metrics.items()])

    def _finish(self, final: dict[str, float], files: dict[str, str], stop_reason: str | None) -> None:
        if final:
            self._log(final, step=int(final.get("final_metric_calls", 0)))
        self.client.set_tag(self.run_id, "stop_reason", stop_reason or "")
        for name, text in files.items():
            self.client.log_text(self.run_id, text, name)
        self.client.set_terminated(self.run_id, status="KILLED" if stop_reason == "interrupted" else "FINISHED")
