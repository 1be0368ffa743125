"""The ``honing`` command itself: --version, ``python -m honing``, -v / -q."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import honing as hn
from honing.cli import build_parser, configure_logging, main

ROOT = Path(__file__).resolve().parent.parent


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"honing {hn.__version__}"


def test_python_dash_m_honing_is_the_command():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "honing", "--version"], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == f"honing {hn.__version__}"
    helped = subprocess.run([sys.executable, "-m", "honing", "--help"], capture_output=True, text=True,
                            env=env, timeout=60)
    assert helped.returncode == 0
    for command in ("run", "demo", "serve-lm", "show", "report", "dashboard"):
        assert command in helped.stdout


@pytest.mark.parametrize("argv, level", [
    ([], logging.INFO), (["-v"], logging.DEBUG), (["-q"], logging.WARNING), (["-qq"], logging.ERROR),
    (["show", "x", "-q"], logging.WARNING), (["-q", "show", "x"], logging.WARNING),
    (["--verbose", "show", "x"], logging.DEBUG),
])
def test_verbose_and_quiet_set_the_honing_level(argv, level):
    args = build_parser().parse_args(argv if "show" in argv else [*argv, "show", "x"])
    honing = logging.getLogger("honing")
    saved = honing.level, list(honing.handlers)
    try:
        assert configure_logging(args.verbose, args.quiet) == level
        assert honing.level == level
    finally:
        honing.setLevel(saved[0])
        honing.handlers = saved[1]


def test_demo_into_a_file_writes_log_lines_not_a_bar(tmp_path):
    """`honing demo > log 2>&1` asks for progress: it gets plain lines, never carriage returns."""
    import threading

    from honing.llm._server import make_server
    from tests.conftest import ScriptedLM, fenced

    lm = ScriptedLM(lambda prompt: fenced("def sort_list(arr):\n    return sorted(arr)\n"))
    server = make_server({"sorter": lm}, port=0)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    host, port = server.server_address[:2]
    try:
        with open(tmp_path / "log.txt", "w") as log:
            done = subprocess.run([sys.executable, "-m", "honing", "demo", "--budget", "3", "--run-dir",
                                   str(tmp_path / "run"), "--reflection-lm", f"http://{host}:{port}/v1#sorter"],
                                  stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                                  cwd=tmp_path, timeout=300)
    finally:
        server.shutdown()
        server.server_close()
    text = (tmp_path / "log.txt").read_text()
    assert done.returncode == 0, text
    assert "\r" not in text
    assert re.search(r"honing: finished: calls \d/3 \| best", text)  # the progress display's closing line
