"""What a tracker records, independent of where it records it.

Both trackers log the same metrics under the same names so runs can be
compared across MLflow and W&B: after every proposal the run-level picture
(best score so far, proposals and accepted proposals, metric calls used,
fraction of the budget used, LM cost), and at the end the best candidate as
an artifact. The engine hands trackers a ``status()`` function so they log
the engine's own numbers (the best *validation* score, budget spent including
refinements) rather than re-deriving them from events; a tracker a user
builds by hand without one falls back to counting events.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

BEST_TEXT_FILE = "best_candidate.txt"
BEST_JSON_FILE = "best_candidate.json"


def flat_params(config_dict: dict[str, Any], sections: tuple[str, ...] = ("engine", "reflection")) -> dict[str, str]:
    """Scalar config values as ``section.field -> str``, for the tracker's parameter table."""
    params: dict[str, str] = {}
    for section in sections:
        for name, value in (config_dict.get(section) or {}).items():
            if value is None or isinstance(value, (dict, list)):
                continue
            params[f"{section}.{name}"] = str(value)[:250]
    return params


class RunTracker:
    """Base callback: turns engine events into metric dicts; subclasses send them somewhere."""

    def __init__(self, *, status: Callable[[], Any] | None = None, params: dict[str, str] | None = None) -> None:
        self._status = status
        self._params = dict(params or {})
        self._proposals = 0
        self._accepted = 0
        self._calls = 0
        self._cost = 0.0
        self._best: float | None = None
        self._opened = False

    # -- to implement -------------------------------------------------------------
    def _open(self, params: dict[str, str]) -> None:
        raise NotImplementedError

    def _log(self, metrics: dict[str, float], step: int) -> None:
        raise NotImplementedError

    def _finish(self, final: dict[str, float], files: dict[str, str], stop_reason: str | None) -> None:
        raise NotImplementedError

    # -- the callback protocol ------------------------------------------------------
    def on_start(self, status: Any) -> None:
        self._open(self._params)
        self._opened = True
        self._log(self._run_metrics(status), step=0)

    def on_evaluation(self, record: Any) -> None:
        if not getattr(record, "cached", False):
            self._calls += 1

    def on_proposal(self, record: Any) -> None:
        self._proposals += 1
        self._accepted += bool(record.accepted)
        usage = getattr(record, "usage", None)
        self._cost += (getattr(usage, "cost_usd", None) or 0.0)
        if record.accepted and record.child_score is not None:
            self._best = record.child_score if self._best is None else max(self._best, record.child_score)
        status = self._status() if self._status is not None else None
        metrics = self._run_metrics(status)
        metrics["proposal_accepted"] = float(bool(record.accepted))
        if record.child_score is not None:
            metrics["child_minibatch_score"] = float(record.child_score)
        self._log(metrics, step=int(metrics.get("proposals", self._proposals)))

    def on_end(self, result: Any) -> None:
        if not self._opened:  # the run failed before on_start: there is no tracking run to close
            return
        final = {
            "final_best_score": result.best_score,
            "final_metric_calls": result.total_metric_calls,
            "final_num_candidates": result.num_candidates,
            "final_lm_cost_usd": result.cost_usd,
            "final_lm_calls": result.lm_calls,
            "final_elapsed_s": result.elapsed_s,
        }
        final = {k: float(v) for k, v in final.items() if isinstance(v, (int, float))}
        self._finish(final, best_candidate_files(result), result.stop_reason)

    # -- helpers --------------------------------------------------------------------------
    def _run_metrics(self, status: Any) -> dict[str, float]:
        if status is None:
            metrics = {"proposals": self._proposals, "accepted_proposals": self._accepted,
                       "metric_calls": self._calls, "lm_cost_usd": self._cost, "best_score": self._best}
            limit = None
        else:
            metrics = {"proposals": status.proposals, "accepted_proposals": status.accepted,
                       "metric_calls": status.metric_calls, "lm_cost_usd": status.cost_usd,
                       "best_score": status.best_score}
            limit = status.max_metric_calls
        if limit:
            metrics["budget_used"] = metrics["metric_calls"] / limit
        return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}


def best_candidate_files(result: Any) -> dict[str, str]:
    """The best candidate as artifact files: always JSON, plus plain text for str candidates."""
    candidate = result.best_candidate
    files = {BEST_JSON_FILE: json.dumps({"best_score": result.best_score, "best_idx": result.best_idx,
                                         "stop_reason": result.stop_reason,
                                         "total_metric_calls": result.total_metric_calls,
                                         "candidate": candidate}, indent=2, default=str)}
    if isinstance(candidate, str):
        files[BEST_TEXT_FILE] = candidate
    return files
