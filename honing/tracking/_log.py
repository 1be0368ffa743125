"""The run as log lines: new best scores at INFO; every decision, prompt and reply at DEBUG.

Always attached (``make_trackers`` adds it), so ``-v`` on the command line or
``logging.getLogger("honing").setLevel(logging.DEBUG)`` is enough to see why
a run behaves as it does, without opening the store:

* ``honing.run``: start, each new best score, the end (INFO);
* ``honing.reflection``: each proposal's verdict and reason, its prompt and
  the LM's reply (DEBUG; long texts are cut to ``max_chars``);
* ``honing.evaluation``: each evaluator result (DEBUG).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

run_log = logging.getLogger("honing.run")
reflection_log = logging.getLogger("honing.reflection")
evaluation_log = logging.getLogger("honing.evaluation")


def _cut(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    return f"{text[:max_chars]}... [{len(text) - max_chars} more characters]"


def _prompt_text(prompt: Any) -> str:
    if isinstance(prompt, list):
        parts = []
        for message in prompt:
            if isinstance(message, dict):
                content = message.get("content")
                body = content if isinstance(content, str) else json.dumps(content, default=str)
                parts.append(f"[{message.get('role', '?')}] {body}")
            else:
                parts.append(str(message))
        return "\n".join(parts)
    return str(prompt)


class RunLogger:
    """A callback that writes the run's events to the ``honing.*`` loggers; it never raises on bad data."""

    def __init__(self, status: Callable[[], Any] | None = None, max_chars: int = 20_000) -> None:
        self._status = status
        self.max_chars = max_chars
        self._best: float | None = None

    def on_start(self, status: Any) -> None:
        self._best = status.best_score
        if status.metric_calls:
            run_log.info("resuming: %d evaluator calls already spent, best score so far %s",
                         status.metric_calls, status.best_score)

    def on_evaluation(self, record: Any) -> None:
        if self._best is None and self._status is not None:  # the seed's score: the baseline, not news
            self._best = self._status().best_score
        if not evaluation_log.isEnabledFor(logging.DEBUG):
            return
        how = f"{record.duration_s:.2f}s"
        failure = f", failed: {_cut(str(record.error), 500)}" if record.error else ""
        evaluation_log.debug("candidate %s on %s (%s): score %.6g (%s)%s", record.candidate_id,
                             record.example_key, record.split, record.score, how, failure)

    def on_proposal(self, record: Any) -> None:
        if reflection_log.isEnabledFor(logging.DEBUG):
            verdict = "accepted" if record.accepted else "rejected"
            parents = ", ".join(str(p) for p in record.parent_ids) or "-"
            components = ", ".join(record.components) or "-"
            reflection_log.debug("proposal %s (%s of candidate %s, components %s): %s, child %s: %s",
                                 record.id, record.kind, parents, components, verdict, record.child_id,
                                 record.reason)
            if record.prompt is not None:
                reflection_log.debug("proposal %s prompt:\n%s", record.id,
                                     _cut(_prompt_text(record.prompt), self.max_chars))
            if record.reply is not None:
                reflection_log.debug("proposal %s reply:\n%s", record.id, _cut(str(record.reply), self.max_chars))
            if record.error:
                reflection_log.debug("proposal %s error: %s", record.id, record.error)
        status = self._status() if self._status is not None else None
        best = getattr(status, "best_score", None)
        if status is not None and best is not None and (self._best is None or best > self._best):
            run_log.info("new best score %.6g (was %s) after proposal %s, %d evaluator calls", best,
                         "-" if self._best is None else f"{self._best:.6g}", record.id, status.metric_calls)
            self._best = best

    def on_end(self, result: Any) -> None:
        where = f"; stored in {result.run_dir}" if getattr(result, "run_dir", None) else ""
        best = "-" if result.best_score is None else f"{result.best_score:.6g}"
        run_log.info("finished (%s): best score %s, %d evaluator calls, %d proposals%s", result.stop_reason, best,
                     result.total_metric_calls, len(result.proposals), where)
