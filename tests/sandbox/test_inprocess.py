"""In-process mode: trusted code, own namespace, per-call output capture."""

from __future__ import annotations

import threading
import time

from honing.sandbox import run_code


def test_value_stdout_and_errors():
    r = run_code("def f(a, b=0):\n    print('hi')\n    return a + b\n", "f", (1,), {"b": 2}, mode="inprocess")
    assert r.ok and r.value == 3 and r.stdout == "hi\n" and r.mode == "inprocess"
    r = run_code("def f():\n    raise KeyError('k')\n", "f", mode="inprocess")
    assert not r.ok and r.error == "KeyError: 'k'" and "line 2" in r.traceback
    r = run_code("x = (", mode="inprocess")
    assert not r.ok and r.error.startswith("SyntaxError")
    r = run_code("x = 1", "solve", mode="inprocess")
    assert r.error == "entry point 'solve' not defined"


def test_namespaces_are_separate():
    run_code("shared = 1", mode="inprocess")
    r = run_code("def f():\n    return 'shared' in globals()\n", "f", mode="inprocess")
    assert r.ok and r.value is False


def test_timeout_reports_but_cannot_kill():
    start = time.monotonic()
    r = run_code("import time\ntime.sleep(1.5)\n", timeout=0.2, mode="inprocess")
    assert r.timed_out and not r.killed and not r.ok
    assert "cannot be killed" in r.error
    assert time.monotonic() - start < 1.0


def test_system_exit_does_not_escape():
    r = run_code("import sys\nsys.exit(2)", mode="inprocess")
    assert not r.ok and "SystemExit" in r.error


def test_concurrent_calls_capture_their_own_output(capsys):
    code = ("import time\ndef f(i):\n    for _ in range(20):\n        print(i)\n        time.sleep(0.001)\n"
            "    return i\n")
    results = {}

    def call(i):
        results[i] = run_code(code, "f", (i,), mode="inprocess", timeout=10)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    print("from the main thread")
    for t in threads:
        t.join()
    for i, r in results.items():
        assert r.ok and r.value == i
        assert r.stdout == f"{i}\n" * 20
    assert "from the main thread" in capsys.readouterr().out


def test_subprocess_only_settings_are_refused_not_ignored(tmp_path):
    import pytest

    for settings in (dict(files={"a": "b"}), dict(readable=[tmp_path]), dict(cwd=tmp_path), dict(network=True),
                     dict(env={"A": "1"}), dict(stdin="x")):
        with pytest.raises(ValueError, match="only apply to mode='subprocess'"):
            run_code("pass", mode="inprocess", **settings)


def test_the_default_mode_is_the_sandbox():
    r = run_code("pass")
    assert r.mode == "subprocess"


def test_its_limits_are_documented_in_one_table():
    import pathlib

    from honing.sandbox import _inprocess

    docs = (pathlib.Path(__file__).parents[2] / "docs" / "sandbox.md").read_text()
    for row in ("Runaway time", "Leftover processes", "Result forgery"):
        assert row in _inprocess.__doc__ and row in docs
