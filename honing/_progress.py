"""How a run shows its progress: a live bar, a notebook widget, or periodic log lines.

The form follows where the output goes (``EngineConfig.progress=False`` turns
it off, True or None show it):

* a terminal: a tqdm bar on the real stderr (also under ``capture_stdio``),
  sized to the terminal and redrawn in place; honing's log lines and the
  application's console log lines are printed above it, never into it;
* a Jupyter notebook: tqdm's widget (plain text where ipywidgets is missing);
* anything else (a file, a pipe, CI): an INFO line on the ``honing.progress``
  logger every ``interval_s`` seconds and one at the end, never a ``\\r``.

tqdm rather than rich: it is one small pure-Python package with no
dependencies, and ``tqdm.notebook`` gives the widget; rich would pull in
markdown and syntax-highlighting packages for a one-line display.

While the reflection LM generates, ``activity()`` (an LM's optional
``activity`` method, e.g. "generating: 120 tokens, 14 tok/s") is shown too.
"""

from __future__ import annotations

import importlib
import io
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any, Literal, TextIO

from ._log import StdioCapture
from ._logging import add_line_writer, remove_line_writer
from ._stopping import RunStatus

log = logging.getLogger("honing.progress")

Mode = Literal["off", "bar", "notebook", "lines"]
REDRAW_S = 0.5


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (where tqdm can draw a widget)."""
    try:  # through importlib: IPython 8 leaves get_ipython unannotated, IPython 9 annotates it
        getipython = importlib.import_module("IPython.core.getipython")
    except ImportError:
        return False
    shell = getipython.get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def _has_widgets() -> bool:
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def choose_mode(enabled: bool | None, stream: TextIO) -> Mode:
    if enabled is False:
        return "off"
    if in_notebook():
        return "notebook" if _has_widgets() else "bar"  # the notebook renders \r redraws in text
    isatty = getattr(stream, "isatty", None)
    return "bar" if callable(isatty) and isatty() else "lines"


class Progress:
    """One run's progress display; the engine calls ``update`` often and ``close`` once."""

    def __init__(
        self,
        enabled: bool | None,
        total: int | None,
        stream: TextIO | None = None,
        *,
        activity: Callable[[], str | None] | None = None,
        admitted: Callable[[], int] | None = None,
        interval_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream if stream is not None else StdioCapture.original("stderr")
        self.total = total
        self.mode: Mode = choose_mode(enabled, self.stream)
        self.enabled = self.mode != "off"
        self.interval_s = interval_s
        self._activity = activity
        self._admitted = admitted
        self._clock = clock
        self._last_draw = -float("inf")
        self._last_line = clock()
        self._bar: Any = None
        self._redirected: list[tuple[logging.StreamHandler[TextIO], TextIO]] = []
        self._lock = threading.Lock()
        self._closed = False

    # -- what is shown ----------------------------------------------------------
    def accepted(self, status: RunStatus) -> int:
        """Accepted proposals that put a new candidate in the pool (a repeat of one is not counted)."""
        if self._admitted is None:
            return status.accepted
        return max(0, self._admitted())

    def activity(self) -> str | None:
        if self._activity is None:
            return None
        try:
            text = self._activity()
        except Exception as exc:  # a display helper must not end a run: report it once, stop asking
            log.debug("the LM's activity() raised %r; no longer shown", exc)
            self._activity = None
            return None
        return " ".join(str(text).split())[:120] if text else None

    def details(self, status: RunStatus) -> str:
        """Best score, proposals, cost and LM activity, short enough to sit beside a bar."""
        best = "-" if status.best_score is None else f"{status.best_score:.4g}"
        text = f"best {best} | {self.accepted(status)}/{status.proposals} accepted"
        if status.in_flight:
            text += f", {status.in_flight} running"
        if status.cost_usd:
            text += f" | ${status.cost_usd:.4f}"
        activity = self.activity()
        return f"{text} | LM {activity}" if activity else text

    def render(self, status: RunStatus) -> str:
        """The status as one plain line (the log-line form)."""
        calls = f"{status.metric_calls}/{self.total}" if self.total else str(status.metric_calls)
        return f"calls {calls} | {self.details(status)} | {status.elapsed_s:.0f}s"

    # -- drawing ------------------------------------------------------------------
    def update(self, status: RunStatus, force: bool = False) -> None:
        if not self.enabled or self._closed:
            return
        now = self._clock()
        if self.mode == "lines":
            if force or now - self._last_line >= self.interval_s:
                self._last_line = now
                log.info("%s", self.render(status))
            return
        if not force and now - self._last_draw < REDRAW_S:
            return
        self._last_draw = now
        bar = self._open_bar()
        with self._lock:
            if self.mode == "bar":
                bar.ncols = self.width() - 1  # re-read each time: the terminal may have been resized
            bar.n = min(status.metric_calls, self.total) if self.total else status.metric_calls
            bar.set_postfix_str(self.details(status), refresh=False)
            bar.refresh()

    def close(self, status: RunStatus) -> None:
        if not self.enabled or self._closed:
            return
        if self.mode == "lines":
            log.info("finished: %s", self.render(status))
        else:
            self.update(status, force=True)
            with self._lock:
                self._bar.close()
            remove_line_writer(self._write_above)
            self._restore_handlers()
        self._closed = True

    def width(self) -> int:
        """The terminal's width in columns (``COLUMNS`` or 80 when the stream has no terminal size)."""
        try:
            return os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            import shutil  # COLUMNS or the fallback; most streams answer os.get_terminal_size

            return shutil.get_terminal_size((80, 24)).columns

    def _open_bar(self) -> Any:
        if self._bar is not None:
            return self._bar
        if self.mode == "notebook":
            from tqdm.notebook import tqdm
        else:
            from tqdm import tqdm
        if self.total:
            layout = "{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} calls {elapsed}{postfix}"
        else:
            layout = "{desc} {n_fmt} calls {elapsed}{postfix}"
        # A widget takes its notebook cell's width (tqdm.notebook reads ncols as pixels); text fits the terminal.
        ncols = self.width() - 1 if self.mode == "bar" else None
        self._bar = tqdm(total=self.total, file=self.stream, desc="honing", bar_format=layout, ncols=ncols,
                         leave=True, mininterval=0, miniters=1, smoothing=0)
        if self.mode == "bar":
            add_line_writer(self._write_above)
            self._redirect_handlers()
        return self._bar

    def _write_above(self, line: str) -> bool:
        from tqdm import tqdm

        tqdm.write(line, file=self.stream)
        return True

    def _redirect_handlers(self) -> None:
        """Send the application's console log handlers' lines above the bar for as long as it shows."""
        consoles = {id(self.stream), id(StdioCapture.original("stderr")), id(StdioCapture.original("stdout"))}
        for handler in logging.getLogger().handlers:
            if type(handler) is logging.StreamHandler and id(handler.stream) in consoles:
                original = handler.setStream(_AboveBar(self._write_above))
                if original is not None:
                    self._redirected.append((handler, original))

    def _restore_handlers(self) -> None:
        for handler, original in self._redirected:
            handler.setStream(original)
        self._redirected.clear()


class _AboveBar:
    """A stream for a log handler: whole lines go above the live bar."""

    def __init__(self, write_line: Callable[[str], bool]) -> None:
        self._write_line = write_line
        self._pending = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self._pending += text
            *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._write_line(line)
        return len(text)

    def flush(self) -> None:
        with self._lock:
            rest, self._pending = self._pending, ""
        if rest:
            self._write_line(rest)
