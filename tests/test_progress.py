"""The progress display: a bar on terminals, log lines elsewhere, the real stderr under capture."""

from __future__ import annotations

import io
import logging
import re
import sys
import time

import pytest

import honing as hn
from honing import _logging, _progress
from honing._log import StdioCapture
from honing._progress import Progress, choose_mode
from honing._stopping import RunStatus
from tests.conftest import ScriptedLM, fenced
from tests.helpers import CountingEvaluator, longest_run


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def status(calls: int = 3, best: float | None = 0.5, proposals: int = 2, accepted: int = 1) -> RunStatus:
    return RunStatus(metric_calls=calls, max_metric_calls=10, proposals=proposals, accepted=accepted, in_flight=1,
                     best_score=best, elapsed_s=12.0, cost_usd=0.0, proposals_since_improvement=0)


def frames(text: str) -> list[str]:
    """What the terminal shows, frame by frame: the text between carriage returns and newlines."""
    return [f for f in re.split(r"[\r\n]", text) if f.strip()]


@pytest.fixture
def no_notebook(monkeypatch):
    monkeypatch.setattr(_progress, "in_notebook", lambda: False)


def test_a_terminal_gets_a_bar_that_fits_its_width(monkeypatch, no_notebook):
    monkeypatch.setenv("COLUMNS", "60")
    monkeypatch.setenv("LINES", "20")
    term = FakeTerminal()
    progress = Progress(enabled=None, total=10, stream=term, clock=iter(range(0, 100, 1)).__next__)
    assert progress.mode == "bar"
    for calls in range(1, 5):
        progress.update(status(calls=calls), force=True)
    progress.close(status(calls=5))
    shown = frames(term.getvalue())
    assert shown and all(len(frame) <= 60 for frame in shown)
    assert "5/10 calls" in shown[-1] and "best 0.5" in shown[-1]
    assert term.getvalue().endswith("\n")


def test_a_shorter_status_leaves_no_characters_behind(monkeypatch, no_notebook):
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("LINES", "20")
    term = FakeTerminal()
    progress = Progress(enabled=True, total=10, stream=term, activity=lambda: "x" * 80)
    progress.update(status(), force=True)
    progress._activity = None
    progress.update(status(), force=True)
    progress.close(status())
    drawn = term.getvalue().rstrip("\n").split("\r")
    last, long_frame = drawn[-1], drawn[-3]
    assert "LM" not in last.strip()
    assert len(last) >= len(long_frame.rstrip()), "the old, longer frame must be blanked out"


def test_log_lines_are_printed_above_the_bar_not_into_it(monkeypatch, no_notebook):
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("LINES", "20")
    term = FakeTerminal()
    progress = Progress(enabled=True, total=10, stream=term)
    progress.update(status(calls=2), force=True)
    _logging.write_line("honing warning: something to read")
    progress.update(status(calls=3), force=True)
    progress.close(status(calls=3))
    lines = term.getvalue().split("\n")
    warning = [line for line in lines if "something to read" in line]
    assert len(warning) == 1
    assert "calls" not in warning[0].split("\r")[-1], "the warning shares no line with the bar"


def test_an_applications_console_handler_writes_above_the_bar(monkeypatch, no_notebook):
    term = FakeTerminal()
    handler = logging.StreamHandler(term)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        progress = Progress(enabled=True, total=10, stream=term)
        progress.update(status(), force=True)
        logging.getLogger("someapp").warning("app says hi")
        assert handler.stream is not term  # redirected while the bar shows
        progress.close(status())
        assert handler.stream is term  # and handed back afterwards
    finally:
        root.removeHandler(handler)
    hi = [line for line in term.getvalue().split("\n") if "app says hi" in line]
    assert hi and hi[0].split("\r")[-1].strip() == "app says hi"


def test_a_file_gets_periodic_log_lines_and_no_carriage_returns(caplog, no_notebook):
    out = io.StringIO()
    now = [0.0]
    progress = Progress(enabled=True, total=10, stream=out, interval_s=30, clock=lambda: now[0])
    assert progress.mode == "lines"
    with caplog.at_level(logging.INFO, logger="honing.progress"):
        for t in (1, 10, 31, 40, 62):
            now[0] = t
            progress.update(status(calls=t // 10))
        progress.close(status(calls=7))
    lines = [r.getMessage() for r in caplog.records if r.name == "honing.progress"]
    assert len(lines) == 3  # at 31 s, at 62 s, and the final one
    assert lines[0].startswith("calls 3/10 | best 0.5") and lines[-1].startswith("finished: calls 7/10")
    assert out.getvalue() == ""


def test_forced_progress_in_a_file_is_lines_not_a_bar(no_notebook):
    assert choose_mode(True, io.StringIO()) == "lines"  # `honing demo > log` writes no \r lines
    assert choose_mode(None, FakeTerminal()) == "bar"
    assert choose_mode(False, FakeTerminal()) == "off"


def test_a_notebook_gets_the_widget_or_text_without_ipywidgets(monkeypatch):
    monkeypatch.setattr(_progress, "in_notebook", lambda: True)
    monkeypatch.setattr(_progress, "_has_widgets", lambda: True)
    assert choose_mode(None, io.StringIO()) == "notebook"
    monkeypatch.setattr(_progress, "_has_widgets", lambda: False)
    assert choose_mode(None, io.StringIO()) == "bar"


def test_under_capture_stdio_the_bar_goes_to_the_real_terminal(monkeypatch, no_notebook):
    term = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", term)
    StdioCapture.acquire()
    try:
        assert sys.stderr is not term  # the capture router stands in for stderr
        progress = Progress(enabled=None, total=10)
        assert progress.stream is term and progress.mode == "bar"
    finally:
        StdioCapture.release()


def test_accepted_counts_admissions_and_activity_is_shown(no_notebook):
    progress = Progress(enabled=True, total=10, stream=io.StringIO(), admitted=lambda: 2,
                        activity=lambda: "generating:\n 120 tokens, 14 tok/s")
    text = progress.render(status(proposals=5, accepted=4))
    assert "2/5 accepted, 1 running" in text
    assert text.endswith("| LM generating: 120 tokens, 14 tok/s | 12s")


def test_an_activity_callable_that_raises_is_dropped_not_fatal(no_notebook):
    def broken() -> str:
        raise RuntimeError("no")

    progress = Progress(enabled=True, total=10, stream=io.StringIO(), activity=broken)
    assert "LM" not in progress.render(status())
    assert progress._activity is None


class ActiveLM(ScriptedLM):
    """A scripted LM that is slow enough to be seen working, and says what it is doing."""

    def complete(self, messages):
        time.sleep(0.7)
        return super().complete(messages)

    def activity(self) -> str:
        return "generating: 42 tokens"


def test_a_run_shows_the_lms_activity_on_its_bar(monkeypatch, tmp_path, no_notebook):
    monkeypatch.setenv("COLUMNS", "120")
    term = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", term)
    evaluator = CountingEvaluator()
    lm = ActiveLM(lambda prompt: fenced("@" * (longest_run(prompt) + 1)))
    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=4, max_workers=1, run_dir=str(tmp_path)),
                       reflection=hn.ReflectionConfig(reflection_lm=lm))
    hn.optimize_anything("@", evaluator, config=config)
    shown = term.getvalue()
    assert "LM generating: 42 tokens" in shown
    last = frames(shown)[-1]
    assert "4/4 calls" in last and "3/" in last


def test_the_notebook_widget_is_built_updated_and_closed(monkeypatch):
    pytest.importorskip("ipywidgets", reason="the notebook widget needs ipywidgets")
    shown: list = []
    monkeypatch.setattr(_progress, "in_notebook", lambda: True)
    import tqdm.notebook

    monkeypatch.setattr(tqdm.notebook, "display", lambda *objects, **kw: shown.extend(objects), raising=False)
    progress = Progress(enabled=None, total=10, stream=io.StringIO(), activity=lambda: "generating: 7 tokens")
    assert progress.mode == "notebook"
    progress.update(status(calls=4), force=True)
    bar = progress._bar
    assert isinstance(bar, tqdm.notebook.tqdm) and shown  # a widget was displayed in the cell
    assert bar.container.layout.width in (None, "", "100%") or "px" not in str(bar.container.layout.width)
    label = bar.container.children[-1].value.replace("\u2007", " ")  # tqdm's figure spaces
    assert "4/10 calls" in label and "LM generating: 7 tokens" in label
    progress.close(status(calls=10))
    assert "10/10 calls" in bar.container.children[-1].value.replace("\u2007", " ")
