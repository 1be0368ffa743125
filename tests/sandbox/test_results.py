"""Ordinary outcomes: values, errors and exits come back as ExecutionResult fields."""

from __future__ import annotations

import sys

import pytest

from honing.sandbox import ExecutionResult, run_code
from tests.conftest import run_in_threads

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the subprocess sandbox targets Linux")


def test_entry_point_with_args_kwargs_and_stdout():
    code = "def solve(a, b, *, scale=1):\n    print('working')\n    return {'sum': (a + b) * scale, 'items': [a, b]}\n"
    r = run_code(code, "solve", (2, 3), {"scale": 10}, timeout=10)
    assert r.ok and r.value == {"sum": 50, "items": [2, 3]}
    assert r.stdout == "working\n" and r.exit_code == 0 and not r.killed


def test_numpy_arrays_cross_both_ways():
    np = pytest.importorskip("numpy")
    code = "import numpy as np\ndef f(x):\n    return {'double': x * 2, 'mean': np.float64(x.mean())}\n"
    r = run_code(code, "f", (np.arange(6).reshape(2, 3),), timeout=20)
    assert r.ok, r.error
    np.testing.assert_array_equal(r.value["double"], np.arange(6).reshape(2, 3) * 2)
    assert r.value["mean"] == 2.5


def test_script_mode_has_no_value():
    r = run_code("print(sum(range(10)))", timeout=10)
    assert r.ok and r.value is None and r.stdout == "45\n"


def test_stdin_is_fed_to_scripts():
    r = run_code("import sys\nprint(sys.stdin.read().upper())", stdin="abc", timeout=10)
    assert r.ok and r.stdout == "ABC\n"


def test_exception_gives_message_and_traceback():
    r = run_code("def f():\n    return 1 / 0\n", "f", timeout=10)
    assert not r.ok and r.error == "ZeroDivisionError: division by zero"
    assert "line 2, in f" in r.traceback and "_runner" not in r.traceback


@pytest.mark.parametrize(
    "code, fragment",
    [("def f():\n    return (i for i in range(3))\n", "generator"),
     ("def f():\n    return lambda: 1\n", "function")],
)
def test_unserializable_return_value(code, fragment):
    r = run_code(code, "f", timeout=10)
    assert not r.ok and fragment in r.error and "not serializable" in r.error


def test_invalid_python():
    r = run_code("def f(:\n    pass\n", "f", timeout=10)
    assert not r.ok and r.error.startswith("SyntaxError") and "line 1" in r.error


def test_missing_entry_point():
    r = run_code("x = 1\n", "solve", timeout=10)
    assert not r.ok and r.error == "entry point 'solve' not defined"


def test_code_must_be_a_string():
    r = run_code(None)  # type: ignore[arg-type]
    assert isinstance(r, ExecutionResult) and not r.ok and "str" in r.error


def test_bad_settings_raise():
    with pytest.raises(ValueError):
        run_code("pass", timeout=0)
    with pytest.raises(ValueError):
        run_code("pass", mode="docker")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "code, ok, exit_code",
    [("import sys\nsys.exit(0)", True, 0), ("import sys\nsys.exit(3)", False, 3),
     ("import os\nos._exit(0)", True, 0), ("import os\nos._exit(5)", False, 5)],
)
def test_script_exits(code, ok, exit_code):
    r = run_code(code, timeout=10)
    assert r.ok is ok and r.exit_code == exit_code and not r.killed


def test_exit_inside_entry_point_is_an_error():
    r = run_code("import sys\ndef f():\n    sys.exit(0)\n", "f", timeout=10)
    assert not r.ok and "SystemExit" in r.error
    r = run_code("import os\ndef f():\n    os._exit(0)\n", "f", timeout=10)
    assert not r.ok and "before entry point 'f' returned" in r.error


def test_segfault():
    r = run_code("import ctypes\nctypes.string_at(0)\n", timeout=10)
    assert not r.ok and r.killed and r.signal == "SIGSEGV" and "SIGSEGV" in r.error


def test_sixteen_concurrent_calls():
    code = "def f(i):\n    print('call', i)\n    return i * i\n"
    results: dict[int, ExecutionResult] = {}

    def call(i: int) -> None:
        results[i] = run_code(code, "f", (i,), timeout=30)

    run_in_threads(call, 16)
    assert sorted(results) == list(range(16))
    for i, r in results.items():
        assert r.ok, r.error
        assert r.value == i * i and r.stdout == f"call {i}\n"


def test_feedback_summarises_failures():
    r = run_code("print('before')\nraise ValueError('bad input')\n", timeout=10)
    text = r.feedback()
    assert "ValueError: bad input" in text and "before" in text


def test_script_can_call_exit_and_quit():
    r = run_code("print('bye')\nexit(0)\n", timeout=10)
    assert r.ok and r.stdout == "bye\n"
    r = run_code("quit(4)\n", timeout=10)
    assert not r.ok and r.exit_code == 4


def test_invalid_settings_raise():
    for bad in (dict(max_result_bytes=0), dict(scratch_mb=-1), dict(cpu_seconds=0), dict(timeout=float("nan"))):
        with pytest.raises(ValueError):
            run_code("pass", **bad)
    with pytest.raises(ValueError):
        run_code("pass", cwd="/nonexistent/dir")
    with pytest.raises(TypeError):
        run_code("pass", files={"a": 3})
