"""``run_code``: one entry point for running generated code under limits."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Literal

from ._inprocess import run_inprocess
from ._options import Options, check_file_name
from ._result import ExecutionResult
from ._subprocess import run_subprocess
from ._view import check_device, check_readable

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
    cwd: str | os.PathLike[str] | None = None,
    stdin: str | bytes | None = None,
    max_output_bytes: int = 1 << 20,
    mode: Mode = "subprocess",
    files: Mapping[str, str | bytes] | None = None,
    readable: Sequence[str | os.PathLike[str]] = (),
    devices: Sequence[str | os.PathLike[str]] = (),
    max_result_bytes: int = 8 << 20,
    scratch_mb: int | None = None,
) -> ExecutionResult:
    """Run untrusted ``code`` and report what happened; never raises for the code's faults.

    With ``entry_point`` the module is executed and then ``entry_point(*args, **kwargs)``
    is called; its return value comes back as ``result.value``. Without it the code runs
    as a script and ``ok`` means it exited with status 0.

    ``mode="subprocess"`` (the default, and the only mode for untrusted code) runs a fresh
    interpreter in its own PID, mount, IPC and (unless ``network=True``) network namespace,
    as a throwaway uid when the caller is root, under a seccomp filter, in a cgroup that
    bounds the whole call (``memory_mb`` including tmpfs and memfd, ``max_processes``,
    ``cpu_seconds`` when given), with a wall-clock ``timeout``. The code sees the
    interpreter and its packages read-only, a private writable work directory
    (``/sandbox``, holding ``files``) and private ``/tmp``, ``/var/tmp`` and ``/dev/shm``
    (together at most ``scratch_mb``, default ``memory_mb``), and nothing else of the
    caller's: list host paths in ``readable`` (read-only) or ``cwd`` (read-write) to show
    them, device files in ``devices``. The return value crosses back as plain data (see
    ``docs/sandbox.md``), at most ``max_result_bytes``. ``result.enforced`` lists the
    protections the call really had and ``result.notes`` says what was weaker and why.

    ``mode="inprocess"`` is for trusted code only: it enforces nothing except how long
    the caller waits (see the table in ``docs/sandbox.md``).

    Raises ``ValueError``/``TypeError`` only for invalid settings from the caller.
    """
    if mode not in ("subprocess", "inprocess"):
        raise ValueError(f"mode must be 'subprocess' or 'inprocess', not {mode!r}")
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not math.isfinite(timeout) or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    for name, value in (("memory_mb", memory_mb), ("max_processes", max_processes), ("file_size_mb", file_size_mb),
                        ("max_output_bytes", max_output_bytes), ("max_result_bytes", max_result_bytes),
                        ("cpu_seconds", 1 if cpu_seconds is None else cpu_seconds),
                        ("scratch_mb", 1 if scratch_mb is None else scratch_mb)):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{name} must be a positive int, not {value!r}")
    if entry_point is not None and not isinstance(entry_point, str):
        raise TypeError(f"entry_point must be a str or None, not {type(entry_point).__name__}")
    if isinstance(args, (str, bytes)) or not isinstance(args, Sequence):
        raise TypeError(f"args must be a sequence, not {type(args).__name__}")
    if kwargs is not None and not isinstance(kwargs, Mapping):
        raise TypeError(f"kwargs must be a mapping, not {type(kwargs).__name__}")
    if mode == "inprocess":
        given = [n for n, v in (("files", files), ("readable", readable), ("devices", devices), ("cwd", cwd),
                                ("stdin", stdin), ("env", env), ("network", network)) if v]
        if given:
            raise ValueError(f"{', '.join(given)} only apply to mode='subprocess'; in-process code shares "
                             "the caller's files, environment and network (see docs/sandbox.md)")
    if not isinstance(code, str):
        # Generated code often arrives as None when extraction failed: that is a result.
        return ExecutionResult(ok=False, error=f"code must be a str, not {type(code).__name__}", mode=mode)
    kwargs = dict(kwargs or {})
    if mode == "inprocess":
        return run_inprocess(code, entry_point, tuple(args), kwargs, timeout, max_output_bytes)
    as_root = os.geteuid() == 0
    shown, notes = [], []
    for path in _paths("readable", readable):
        full, note = check_readable(path, as_root)
        shown.append(full)
        if note:
            notes.append(note)
    cwd_path = _check_cwd(cwd)
    if cwd_path and as_root and os.stat(cwd_path).st_mode & 0o003 != 0o003:
        notes.append(f"cwd {cwd_path} is not writable by other users; the code runs as a throwaway uid and "
                     "cannot write there (chmod o+wx it, or leave cwd unset and use files=)")
    options = Options(
        timeout=float(timeout), memory_mb=memory_mb, cpu_seconds=cpu_seconds, max_processes=max_processes,
        file_size_mb=file_size_mb, max_output_bytes=max_output_bytes, max_result_bytes=max_result_bytes,
        network=bool(network), scratch_mb=scratch_mb or memory_mb,
        env=MappingProxyType({str(k): str(v) for k, v in (env or {}).items()}),
        cwd=cwd_path, stdin=stdin.encode("utf-8") if isinstance(stdin, str) else stdin,
        files=MappingProxyType(_check_files(files)), readable=tuple(shown),
        devices=tuple(check_device(p) for p in _paths("devices", devices)),
    )
    result = run_subprocess(code, entry_point, tuple(args), kwargs, options)
    if notes:
        from dataclasses import replace

        result = replace(result, notes=tuple(notes) + result.notes)
    return result


def _paths(name: str, value: Any) -> list[Any]:
    if isinstance(value, (str, bytes, os.PathLike)) or not isinstance(value, Sequence):
        raise TypeError(f"{name}= takes a list of paths, not {type(value).__name__} (wrap one path in a list)")
    return list(value)


def _check_cwd(cwd: str | os.PathLike[str] | None) -> str | None:
    if cwd is None:
        return None
    full = os.path.realpath(os.fspath(cwd))
    if not os.path.isdir(full):
        raise ValueError(f"cwd={full!r} is not an existing directory")
    if full == "/":
        raise ValueError("cwd='/' would give the code the whole machine, writable; use a directory of its own")
    return full


def _check_files(files: Mapping[str, str | bytes] | None) -> dict[str, bytes]:
    if files is None:
        return {}
    if not isinstance(files, Mapping):
        raise TypeError(f"files= takes a mapping of relative path -> str or bytes content, not {type(files).__name__}")
    out = {}
    for name, content in files.items():
        if isinstance(content, str):
            content = content.encode("utf-8")
        elif not isinstance(content, (bytes, bytearray, memoryview)):
            raise TypeError(f"files[{name!r}] must be str or bytes content, not {type(content).__name__} "
                            "(to show a host file as it is, list its path in readable=)")
        out[check_file_name(name)] = bytes(content)
    return out
