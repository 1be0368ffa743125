"""In-process mode: for trusted, fast code where a process per call costs too much.

Chosen only by an explicit ``mode="inprocess"``; nothing picks it for you. It isolates
nothing but the module namespace. The code runs on a daemon worker thread so the caller
can stop *waiting* at the timeout; the code itself cannot be killed and keeps running.
Output is captured per worker thread through a proxy installed on ``sys.stdout`` /
``sys.stderr``, so concurrent calls never see each other's prints.

What it does not protect (the same table is in ``docs/sandbox.md``):

=====================  ===========================================================
Attack class           In-process mode
=====================  ===========================================================
Runaway time           the caller stops waiting; the code keeps running, forever
Memory, CPU, processes no limit; the code shares the caller's process
Files                  everything the caller can read and write, run store included
Network                the caller's network
Environment, secrets   the caller's environment, API keys included, and its memory
Leftover processes     forks and threads of the code live on in the caller
Crashes                a segfault or ``os._exit`` ends the caller
Result forgery         the value is an object of the caller's process, by reference
System calls           no filter; the caller's privileges
=====================  ===========================================================
"""

from __future__ import annotations

import builtins
import sys
import threading
import time
import traceback
from typing import Any, TextIO

from ._result import CappedBuffer, ExecutionResult

_FILENAME = "<sandbox-inprocess>"
_install_lock = threading.Lock()
# stream name -> {worker thread ident -> its capture buffer}
_SINKS: dict[str, dict[int, CappedBuffer]] = {"stdout": {}, "stderr": {}}


class _ThreadRoutedStream:
    """Stands in for sys.stdout/sys.stderr; writes from capturing threads go to their buffer."""

    def __init__(self, target: TextIO, sinks: dict[int, CappedBuffer]) -> None:
        self._target = target
        self._sinks = sinks

    def write(self, text: str) -> int:
        sink = self._sinks.get(threading.get_ident())
        if sink is None:
            return self._target.write(text)
        sink.write_bytes(text.encode("utf-8", errors="replace"))
        return len(text)

    def flush(self) -> None:
        if threading.get_ident() not in self._sinks:
            self._target.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


def _ensure_proxies() -> None:
    # Re-checked on every call: test runners and apps may swap sys.stdout after us.
    with _install_lock:
        for name, sinks in _SINKS.items():
            current = getattr(sys, name)
            if not (isinstance(current, _ThreadRoutedStream) and current._sinks is sinks):
                setattr(sys, name, _ThreadRoutedStream(current, sinks))


def _user_traceback(exc: BaseException) -> str:
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != _FILENAME:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))


def _execute(code: str, entry_point: str | None, args: tuple[Any, ...], kwargs: dict[str, Any],
             outcome: dict[str, Any]) -> None:
    namespace: dict[str, Any] = {"__name__": "__sandbox__", "__builtins__": builtins}
    try:
        compiled = compile(code, _FILENAME, "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = f" (line {exc.lineno})" if exc.lineno else ""
        outcome.update(error=f"{type(exc).__name__}: {exc.msg}{where}")
        return
    except (ValueError, MemoryError, RecursionError) as exc:
        outcome.update(error=f"{type(exc).__name__}: {exc}")
        return
    try:
        exec(compiled, namespace)
        if entry_point is None:
            outcome.update(ok=True)
            return
        fn = namespace.get(entry_point)
        if fn is None:
            outcome.update(error=f"entry point {entry_point!r} not defined")
        elif not callable(fn):
            outcome.update(error=f"entry point {entry_point!r} is not callable (it is a {type(fn).__name__})")
        else:
            outcome.update(ok=True, value=fn(*args, **kwargs))
    except SystemExit as exc:
        if entry_point is None and exc.code in (None, 0):
            outcome.update(ok=True)
        else:
            outcome.update(error=f"SystemExit: {exc.code}")
    except BaseException as exc:  # noqa: BLE001 - the code's failures are results
        message = str(exc)
        outcome.update(error=f"{type(exc).__name__}: {message}" if message else type(exc).__name__,
                       traceback=_user_traceback(exc))


def run_inprocess(code: str, entry_point: str | None, args: tuple[Any, ...], kwargs: dict[str, Any],
                  timeout: float, max_output_bytes: int) -> ExecutionResult:
    start = time.monotonic()
    _ensure_proxies()
    out, err = CappedBuffer(max_output_bytes), CappedBuffer(max_output_bytes)
    outcome: dict[str, Any] = {"ok": False}

    def worker() -> None:
        ident = threading.get_ident()
        _SINKS["stdout"][ident], _SINKS["stderr"][ident] = out, err
        try:
            _execute(code, entry_point, tuple(args), dict(kwargs), outcome)
        finally:
            _SINKS["stdout"].pop(ident, None)
            _SINKS["stderr"].pop(ident, None)

    thread = threading.Thread(target=worker, name="honing-sandbox-inprocess", daemon=True)
    thread.start()
    thread.join(timeout)
    duration = time.monotonic() - start
    common: dict[str, Any] = dict(stdout=out.text(), stderr=err.text(), duration=duration, mode="inprocess",
                  output_truncated=bool(out.dropped or err.dropped))
    if thread.is_alive():
        return ExecutionResult(ok=False, timed_out=True, error=(
            f"timed out after {timeout:g}s (in-process code cannot be killed; it keeps running "
            "in a daemon thread)"), **common)
    return ExecutionResult(ok=outcome["ok"], value=outcome.get("value"), error=outcome.get("error"),
                           traceback=outcome.get("traceback"), **common)
