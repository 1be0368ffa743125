"""Every honing message goes through named loggers, shows by default, and can be silenced."""

from __future__ import annotations

import io
import logging
import sys
import warnings

import pytest

import honing as hn
from honing import _logging
from tests.helpers import CountingEvaluator, growing_lm

_stderr: list[io.StringIO] = []


@pytest.fixture
def unconfigured(monkeypatch):
    """A process whose application never configured logging (pytest's handlers are hidden in each test)."""
    honing = logging.getLogger("honing")
    monkeypatch.setattr(honing, "handlers", [])
    monkeypatch.setattr(honing, "level", logging.NOTSET)
    err = io.StringIO()
    _stderr[:] = [err]
    yield err
    honing.handlers = []
    honing.setLevel(logging.NOTSET)
    _logging._auto_level.clear()


def hide_pytest_handlers(monkeypatch) -> None:
    """pytest adds its capture handlers to the root logger (and swaps stderr) when a test's body starts."""
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    monkeypatch.setattr(sys, "stderr", _stderr[0])


def run(tmp_path, monkeypatch, budget: int = 6, **engine):
    monkeypatch.chdir(tmp_path)  # no run_dir: a fresh one under ./honing-runs, announced
    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=budget, max_workers=1, max_proposals_in_flight=1,
                                              progress=False, **engine),
                       reflection=hn.ReflectionConfig(reflection_lm=growing_lm()))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing goes around logging through warnings.warn
        return hn.optimize_anything("@", CountingEvaluator(), config=config)


def test_an_unconfigured_process_sees_honings_info_lines(unconfigured, tmp_path, monkeypatch):
    hide_pytest_handlers(monkeypatch)
    result = run(tmp_path, monkeypatch, budget=3)
    shown = unconfigured.getvalue()
    assert f"honing: this run is stored in {result.run_dir}" in shown
    assert "honing warning: max_metric_calls=3 allows at most 2 proposal(s)" in shown
    assert "honing: finished (budget exhausted): best score" in shown


def test_the_honing_logger_level_silences_everything(unconfigured, tmp_path, monkeypatch):
    hide_pytest_handlers(monkeypatch)
    logging.getLogger("honing").setLevel(logging.ERROR)
    run(tmp_path, monkeypatch, budget=3)
    assert unconfigured.getvalue() == ""


def test_a_configured_application_gets_the_records_once(unconfigured, tmp_path, monkeypatch):
    hide_pytest_handlers(monkeypatch)
    app = io.StringIO()
    handler = logging.StreamHandler(app)
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
    try:
        result = run(tmp_path, monkeypatch)
    finally:
        logging.getLogger().setLevel(logging.WARNING)
    assert app.getvalue().count(f"this run is stored in {result.run_dir}") == 1
    assert unconfigured.getvalue() == ""  # honing's own handler stayed out of it
    assert not any(isinstance(h, _logging.DefaultHandler) for h in logging.getLogger("honing").handlers)


def test_the_default_handler_steps_back_once_the_application_configures_logging(unconfigured, monkeypatch):
    hide_pytest_handlers(monkeypatch)
    assert _logging.install_default_handler()
    logging.getLogger("honing.x").info("before")
    logging.getLogger().addHandler(logging.NullHandler())
    logging.getLogger("honing.x").info("after")
    assert unconfigured.getvalue() == "honing: before\n"


def test_debug_shows_prompts_replies_decisions_and_scores(caplog, tmp_path, monkeypatch):
    with caplog.at_level(logging.DEBUG, logger="honing"):
        run(tmp_path, monkeypatch)
    by_logger: dict[str, list[str]] = {}
    for record in caplog.records:
        by_logger.setdefault(record.name, []).append(record.getMessage())
    reflection = "\n".join(by_logger["honing.reflection"])
    assert "proposal 0 (reflection of candidate 0, components candidate): accepted" in reflection
    assert "proposal 0 prompt:\n[" in reflection and "more @ is better" in reflection  # the side info it saw
    assert "proposal 0 reply:\nHere is the improved version." in reflection
    assert any("candidate 0 on __single__ (single): score 0.1" in m for m in by_logger["honing.evaluation"])
    assert any(m.startswith("new best score 0.2 (was 0.1)") for m in by_logger["honing.run"])


def test_debug_output_is_not_built_when_nobody_listens(caplog, tmp_path, monkeypatch):
    with caplog.at_level(logging.INFO, logger="honing"):
        run(tmp_path, monkeypatch)
    assert not [r for r in caplog.records if r.levelno < logging.INFO]


def test_configuring_logging_after_a_run_puts_the_applications_levels_in_charge(unconfigured, monkeypatch):
    hide_pytest_handlers(monkeypatch)
    assert _logging.install_default_handler()
    app = io.StringIO()
    root = logging.getLogger()
    root.addHandler(logging.StreamHandler(app))  # like logging.basicConfig(level=WARNING)
    root.setLevel(logging.WARNING)
    assert not _logging.install_default_handler()  # the next run notices and stands back
    logging.getLogger("honing.run").info("routine")
    logging.getLogger("honing.run").warning("important")
    assert app.getvalue() == "important\n" and unconfigured.getvalue() == ""


def test_a_level_chosen_on_the_command_line_is_kept(unconfigured, monkeypatch):
    hide_pytest_handlers(monkeypatch)
    _logging.set_verbosity(logging.DEBUG)
    logging.getLogger().addHandler(logging.NullHandler())
    logging.getLogger("honing.x").debug("still wanted")
    assert logging.getLogger("honing").level == logging.DEBUG
