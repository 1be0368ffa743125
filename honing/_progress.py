"""A one-line progress display on stderr: best score, budget used, proposals in flight.

Shown by default only when stderr is a terminal (``EngineConfig.progress``
forces it on or off), so logs and CI output stay clean.
"""

from __future__ import annotations

import sys
import time

from ._stopping import RunStatus


class Progress:
    def __init__(self, enabled: bool | None, total: int | None, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled if enabled is not None else bool(getattr(self.stream, "isatty", lambda: False)())
        self.total = total
        self._last = 0.0
        self._shown = False

    def render(self, status: RunStatus) -> str:
        budget = f"{status.metric_calls}/{self.total}" if self.total else str(status.metric_calls)
        best = "-" if status.best_score is None else f"{status.best_score:.4g}"
        width = 20
        bar = ""
        if self.total:
            filled = int(width * min(1.0, status.metric_calls / self.total))
            bar = "[" + "#" * filled + "." * (width - filled) + "] "
        return (f"honing {bar}calls {budget} | best {best} | proposals {status.proposals} "
                f"({status.accepted} accepted, {status.in_flight} in flight) | {status.elapsed_s:.0f}s")

    def update(self, status: RunStatus, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.5:
            return
        self._last = now
        self.stream.write("\r" + self.render(status).ljust(100))
        self.stream.flush()
        self._shown = True

    def close(self, status: RunStatus) -> None:
        if self.enabled:
            self.update(status, force=True)
            self.stream.write("\n")
            self.stream.flush()
