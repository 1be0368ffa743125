"""A run resumed with another evaluator is refused (or, when the user says so, resumed with a warning)."""

from __future__ import annotations

import importlib.util
import json
import logging
import sqlite3

import pytest

import honing as hn
from honing.store import EvaluatorChangedError, MemoryStore, evaluator_identity
from tests.helpers import growing_lm

SCORE_MORE = '''
def evaluate(candidate, example):
    return min(candidate.count("@"), 1000) / 1000, {"count": candidate.count("@")}
'''
SCORE_MORE_REFORMATTED = '''
# the same scoring, with a comment and another layout


def evaluate(candidate, example):
    # more @ is better
    return min(candidate.count("@"),
               1000) / 1000, {"count": candidate.count("@")}
'''
SCORE_INVERTED = '''
def evaluate(candidate, example):
    return 1 - min(candidate.count("@"), 1000) / 1000, {"count": candidate.count("@")}
'''


def _load(tmp_path, source: str, folder: str):
    """``evalmod.evaluate`` from its own file: the same qualified name each time, as after an edit."""
    path = tmp_path / folder / "evalmod.py"
    path.parent.mkdir()
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("evalmod", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.evaluate


def _run(run_dir, evaluator, budget, **engine):
    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=budget, run_dir=str(run_dir), **engine),
                       reflection=hn.ReflectionConfig(reflection_lm=growing_lm()))
    return hn.optimize_anything("@", evaluator=evaluator, dataset=["a", "b"], objective="more @", config=config)


def test_the_header_names_the_evaluator_and_hashes_its_source(tmp_path):
    evaluate = _load(tmp_path, SCORE_MORE, "v1")
    _run(tmp_path / "run", evaluate, 20)
    row = sqlite3.connect(tmp_path / "run" / "honing.db").execute(
        "SELECT value FROM honing_meta WHERE key='header'").fetchone()
    stored = json.loads(row[0])
    assert stored["evaluator"] == "evalmod.evaluate"
    assert stored["evaluator_source"] == evaluator_identity(evaluate)[1] and len(stored["evaluator_source"]) == 16


def test_an_inverted_evaluator_is_refused_on_resume(tmp_path):
    _run(tmp_path / "run", _load(tmp_path, SCORE_MORE, "v1"), 20)
    with pytest.raises(EvaluatorChangedError, match="evalmod.evaluate's source changed.*evaluator_changed_ok=True"):
        _run(tmp_path / "run", _load(tmp_path, SCORE_INVERTED, "v2"), 30)


def test_a_changed_evaluator_resumes_when_the_user_says_it_scores_the_same(tmp_path, caplog):
    _run(tmp_path / "run", _load(tmp_path, SCORE_MORE, "v1"), 20)
    with caplog.at_level(logging.WARNING, logger="honing.store"):
        result = _run(tmp_path / "run", _load(tmp_path, SCORE_INVERTED, "v2"), 30, evaluator_changed_ok=True)
    assert result.total_metric_calls > 20  # resumed and went on (the inverted scores soon stall the toy LM)
    assert "evaluator changed" in caplog.text
    _run(tmp_path / "run", _load(tmp_path, SCORE_INVERTED, "v3"), 32)  # the new identity is now the stored one


def test_comments_and_layout_are_not_a_change(tmp_path):
    _run(tmp_path / "run", _load(tmp_path, SCORE_MORE, "v1"), 20)
    assert _run(tmp_path / "run", _load(tmp_path, SCORE_MORE_REFORMATTED, "v2"), 30).total_metric_calls == 30


def test_another_evaluator_function_is_refused(tmp_path):
    _run(tmp_path / "run", _load(tmp_path, SCORE_MORE, "v1"), 20)

    def evaluate(candidate, example):
        return 0.5, {}

    with pytest.raises(EvaluatorChangedError, match="stored: evalmod.evaluate, now: .*evaluate"):
        _run(tmp_path / "run", evaluate, 30)


def test_the_memory_store_applies_the_same_rule(tmp_path):
    store = MemoryStore()

    def run(evaluator, **engine):
        config = hn.Config(engine=hn.EngineConfig(max_metric_calls=20, **engine), store=store,
                           reflection=hn.ReflectionConfig(reflection_lm=growing_lm()))
        return hn.optimize_anything("@", evaluator=evaluator, dataset=["a", "b"], objective="more @", config=config)

    run(_load(tmp_path, SCORE_MORE, "v1"))
    with pytest.raises(EvaluatorChangedError):
        run(_load(tmp_path, SCORE_INVERTED, "v2"))


def test_identity_of_the_usual_callables():
    class Scorer:
        def __call__(self, candidate):
            return 1.0

        def method(self, candidate):
            return 1.0

    def plain(candidate):
        return 1.0

    assert evaluator_identity(Scorer())[0].endswith("Scorer")
    assert evaluator_identity(Scorer().method)[0].endswith("Scorer.method")
    assert evaluator_identity(plain)[1] is not None
    assert evaluator_identity(len) == ("builtins.len", None)
    import functools
    assert evaluator_identity(functools.partial(plain)) == evaluator_identity(plain)
    one = lambda c: 1.0  # noqa: E731 (lambdas on purpose: their identity is what is tested)
    two = lambda c: 2.0  # noqa: E731
    assert evaluator_identity(one)[1] != evaluator_identity(two)[1]
