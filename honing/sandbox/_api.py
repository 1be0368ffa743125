"""``run_code``: one entry point for running generated code under limits."""

from __future__ import annotations

import math
from typing import Any, Literal, Mapping, Sequence

from ._inprocess import run_inprocess
from ._result import ExecutionResult
from ._subprocess import Limits, run_subprocess

Mode = Literal["subprocess", "inprocess"]


def run_code(
    code: str,
    entry_point: str | None = None,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    timeout: float = 10.0,
    memory_mb: int = 1024,
    cpu_seconds: int | None = None,
    max_processes: int = 64,
    file_size_mb: int = 64,
    network: bool = False,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    stdin: str | bytes | None = None,
    max_output_bytes: int = 1 << 20,
    mode: Mode = "subprocess",
) -> ExecutionResult:
    """Run untrusted ``code`` and report what happened; never raises for the code's faults.

    With ``entry_point`` the module is executed and then ``entry_point(*args, **kwargs)``
    is called; its return value comes back as ``result.value``. Without it the code
    runs as a script and ``ok`` means it exited with status 0.

    ``mode="subprocess"`` (default) runs a fresh interpreter with a wall-clock
    ``timeout`` (whole process tree killed), address-space, CPU-time, process-count
    and file-size limits, a scrubbed environment (plus ``env``), a private temporary
    directory and, unless ``network=True``, no network. ``mode="inprocess"`` is for
    trusted code only: fast, but it enforces nothing except how long we wait.

    Raises ``ValueError``/``TypeError`` only for invalid settings from the caller.
    """
    if mode not in ("subprocess", "inprocess"):
        raise ValueError(f"mode must be 'subprocess' or 'inprocess', not {mode!r}")
    if not isinstance(timeout, (int, float)) or not math.isfinite(timeout) or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    if cpu_seconds is None:
        cpu_seconds = math.ceil(timeout) + 1
    for name, value in (("memory_mb", memory_mb), ("cpu_seconds", cpu_seconds),
                        ("max_processes", max_processes), ("file_size_mb", file_size_mb),
                        ("max_output_bytes", max_output_bytes)):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{name} must be a positive int, not {value!r}")
    if entry_point is not None and not isinstance(entry_point, str):
        raise TypeError(f"entry_point must be a str or None, not {type(entry_point).__name__}")
    if isinstance(args, (str, bytes)) or not isinstance(args, Sequence):
        raise TypeError(f"args must be a sequence, not {type(args).__name__}")
    if kwargs is not None and not isinstance(kwargs, Mapping):
        raise TypeError(f"kwargs must be a mapping, not {type(kwargs).__name__}")
    if not isinstance(code, str):
        # Generated code often arrives as None when extraction failed: that is a result.
        return ExecutionResult(ok=False, error=f"code must be a str, not {type(code).__name__}", mode=mode)
    kwargs = dict(kwargs or {})
    if mode == "inprocess":
        return run_inprocess(code, entry_point, tuple(args), kwargs, timeout, max_output_bytes)
    limits = Limits(
        timeout=float(timeout), memory_mb=memory_mb, cpu_seconds=cpu_seconds,
        max_processes=max_processes, file_size_mb=file_size_mb,
        max_output_bytes=max_output_bytes, network=bool(network), env=env, cwd=cwd,
        stdin=stdin.encode("utf-8") if isinstance(stdin, str) else stdin,
    )
    return run_subprocess(code, entry_point, tuple(args), kwargs, limits)
