"""``honing run``: an optimization from files, stored and resumable like any other run."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from honing.cli import main
from tests.conftest import ScriptedLM, fenced, serving
from tests.helpers import longest_run

ROOT = Path(__file__).resolve().parent.parent

EVALUATOR = '''
import json, os

def evaluate(candidate, example):
    with open(os.environ["CALLS_LOG"], "a") as log:
        log.write(json.dumps([candidate, example]) + "\\n")
    return min(candidate.count("@"), 10) / 10 * example["weight"], {"hint": "more @ is better"}
'''


@pytest.fixture(autouse=True)
def restore_imports(monkeypatch):
    """In-process runs put the evaluator's folder on sys.path and import it: undo both afterwards."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith("scoring"):
            del sys.modules[name]


@pytest.fixture
def endpoint():
    """A reflection LM the command reaches over HTTP: a scripted model behind serve-lm."""
    lm = ScriptedLM(lambda prompt: fenced("@" * (longest_run(prompt) + 1)))
    with serving({"grower": lm}) as url:
        yield url + "#grower"


@pytest.fixture
def project(tmp_path, endpoint):
    (tmp_path / "scoring.py").write_text(EVALUATOR)
    (tmp_path / "seed.txt").write_text("@")
    (tmp_path / "train.jsonl").write_text('{"weight": 1.0}\n\n{"weight": 0.5}\n')
    (tmp_path / "honing.toml").write_text(
        'evaluator = "scoring.py:evaluate"\n'
        'objective = "More @ signs."\n'
        "[engine]\nmax_metric_calls = 8\nmax_workers = 1\nseed = 3\n"
        f'[reflection]\nreflection_lm = "{endpoint}"\nreflection_minibatch_size = 1\n'
    )
    return tmp_path


def honing_run(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CALLS_LOG": str(project / "calls.jsonl")}
    return subprocess.run([sys.executable, "-m", "honing", "run", *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=120)


def test_a_run_from_files_prints_the_best_and_resumes(project):
    first = honing_run(project, "seed.txt", "-c", "honing.toml", "--dataset", "train.jsonl", "--run-dir", "run")
    assert first.returncode == 0, first.stderr
    assert set(first.stdout.strip()) == {"@"} and len(first.stdout.strip()) > 1
    assert "honing: finished (budget exhausted)" in first.stderr
    assert "\r" not in first.stderr  # not a terminal: log lines, no bar
    with sqlite3.connect(project / "run" / "honing.db") as db:
        assert db.execute("select count(*) from evaluations").fetchone()[0] >= 8

    second = honing_run(project, "seed.txt", "-c", "honing.toml", "--dataset", "train.jsonl", "--run-dir", "run",
                        "--budget", "12", "-o", "best.txt")
    assert second.returncode == 0, second.stderr
    assert second.stdout == ""
    assert "resuming: 8 evaluator calls already spent" in second.stderr
    calls = [tuple(json.dumps(x) for x in json.loads(line))
             for line in (project / "calls.jsonl").read_text().splitlines()]
    assert len(calls) == 12 and len(set(calls)) == 12  # nothing evaluated twice across the two commands
    assert len((project / "best.txt").read_text().strip()) >= len(first.stdout.strip())


def test_a_json_seed_is_a_dict_candidate_and_module_names_import_from_cwd(project, monkeypatch, capsys):
    (project / "seed.json").write_text('{"text": "@"}')
    (project / "scoring_dict.py").write_text(
        "def evaluate(candidate):\n    return candidate['text'].count('@') / 10\n")
    monkeypatch.chdir(project)
    code = main(["-q", "run", "seed.json", "-e", "scoring_dict:evaluate", "-c", "honing.toml", "--budget", "3",
                 "--run-dir", str(project / "dict-run")])
    assert code == 0
    best = json.loads(capsys.readouterr().out)
    assert set(best) == {"text"} and best["text"].startswith("@@")


@pytest.mark.parametrize("files, argv, message", [
    ({}, ["seed.txt", "-e", "nowhere:evaluate"], "no module 'nowhere'"),
    ({}, ["seed.txt", "-e", "scoring.py:evaluat"], "has no 'evaluat'; callables there: evaluate"),
    ({}, ["seed.txt", "-e", "scoring.py"], "must look like module:function"),
    ({}, ["seed.txt"], "no evaluator: pass --evaluator"),
    ({"bad.toml": "[engin]\nmax_metric_calls = 3\n"}, ["seed.txt", "-e", "scoring.py:evaluate", "-c", "bad.toml"],
     "unknown table [engin]; did you mean [engine]?"),
    ({"bad.toml": "[engine]\nmax_metric_cals = 3\n"}, ["seed.txt", "-e", "scoring.py:evaluate", "-c", "bad.toml"],
     "EngineConfig has no field 'max_metric_cals'; did you mean 'max_metric_calls'?"),
    ({"bad.toml": "evaluatr = 'x:y'\n"}, ["seed.txt", "-c", "bad.toml"], "did you mean 'evaluator'?"),
    ({"bad.toml": "[engine\n"}, ["seed.txt", "-c", "bad.toml"], "is not valid TOML"),
    ({"bad.jsonl": '{"a": 1}\n{"a": \n'}, ["seed.txt", "-e", "scoring.py:evaluate", "--dataset", "bad.jsonl"],
     "bad.jsonl, line 2: not valid JSON"),
    ({"seed.json": "[1]"}, ["seed.json", "-e", "scoring.py:evaluate"], "must hold a JSON object"),
    ({}, ["missing.txt", "-e", "scoring.py:evaluate"], "seed file missing.txt does not exist"),
])
def test_bad_inputs_get_one_line_that_says_what_to_fix(project, monkeypatch, caplog, files, argv, message):
    for name, text in files.items():
        (project / name).write_text(text)
    monkeypatch.chdir(project)
    assert main(["run", *argv, "--budget", "3"]) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and message in errors[0], errors
