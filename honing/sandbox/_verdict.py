"""Caller side: turn what a call left on its pipes into an ``ExecutionResult``.

Two channels, trusted differently. The status channel is written only by the runner and
the monitor, which the code cannot reach: its set-up report (``S``) and the worker's exit
status (``X``) are believed. The result channel is written by the worker, in the same
process as the code, so the code can write there too: its frames are parsed strictly
(exactly an envelope ``R`` and, after a returned entry point, a value ``V``; any other
byte makes the channel corrupted) and only count when the trusted exit status is a clean
exit. So ``ok=True`` means: exit status 0, not killed, not timed out, exactly the frames
a returning entry point writes, and a value that decoded within the limits.
"""

from __future__ import annotations

import signal
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import _codec
from ._cgroups import CallCgroup
from ._options import Options
from ._result import CappedBuffer, ExecutionResult, Protection

__all__ = ["Collected", "setup_report", "verdict"]

_HEADER = struct.Struct(">cQ")
_CORRUPTED = "the code corrupted the sandbox's result channel"
_SMALL = _codec.Limits(max_bytes=1 << 17, max_depth=8, max_int_bytes=16)


@dataclass
class Collected:
    """Everything the caller gathered about one call."""

    stdout: CappedBuffer
    stderr: CappedBuffer
    status: CappedBuffer
    result: CappedBuffer
    timed_out: bool = False
    cpu_exceeded: float | None = None
    swept: bool | None = None
    out_of_memory: bool = False
    hit_process_limit: bool = False
    returncode: int = 0
    duration: float = 0.0
    extra_notes: list[str] = field(default_factory=list)


def parse_frames(data: bytes) -> list[tuple[bytes, bytes]] | None:
    """``[(tag, payload), ...]``, or None if the bytes are not a whole sequence of frames."""
    frames, pos = [], 0
    while pos < len(data):
        if pos + _HEADER.size > len(data):
            return None
        tag, size = _HEADER.unpack_from(data, pos)
        pos += _HEADER.size
        if size > len(data) - pos:
            return None
        frames.append((tag, data[pos:pos + size]))
        pos += size
    return frames


def _small(payload: bytes) -> dict[str, Any] | None:
    try:
        value = _codec.decode(payload, _SMALL)
    except _codec.DecodeError:
        return None
    return value if isinstance(value, dict) else None


def setup_report(status: bytes) -> dict[str, Any] | None:
    frames = parse_frames(status) or []
    return _small(frames[0][1]) if frames and frames[0][0] == b"S" else None


def _status(status: bytes) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(set-up report, exit report) from the trusted channel."""
    frames = parse_frames(status) or []
    setup = _small(frames[0][1]) if frames and frames[0][0] == b"S" else None
    exit_ = _small(frames[1][1]) if len(frames) > 1 and frames[1][0] == b"X" else None
    return setup, exit_


def _describe_signal(num: int, out_of_memory: bool, memory_mb: int) -> tuple[str, str]:
    try:
        name = signal.Signals(num).name
    except ValueError:
        name = f"signal {num}"
    if out_of_memory and num == signal.SIGKILL:
        return name, f"out of memory: the call reached its limit of memory_mb={memory_mb} (killed by SIGKILL)"
    if num == signal.SIGXCPU:
        return name, "CPU time limit exceeded (SIGXCPU)"
    if num == signal.SIGSEGV:
        return name, "crashed with SIGSEGV (segmentation fault)"
    if num == signal.SIGKILL:
        return name, "killed by SIGKILL (out of memory or a limit was hit)"
    return name, f"killed by {name}"


def _texts(envelope: dict[str, Any]) -> tuple[str | None, str | None]:
    error, tb = envelope.get("error"), envelope.get("traceback")
    return (error if isinstance(error, str) else None), (tb if isinstance(tb, str) else None)


def verdict(c: Collected, options: Options, entry_point: str | None, cgroup: CallCgroup) -> ExecutionResult:
    setup, exit_ = _status(c.status.data())
    enforced = {Protection.WALL_CLOCK} | cgroup.enforced
    notes = list(cgroup.notes) + c.extra_notes
    if setup is not None:
        for name in setup.get("enforced", ()):
            try:
                enforced.add(Protection(name))
            except ValueError:
                pass
        notes += [n for n in setup.get("notes", ()) if isinstance(n, str)]
    if c.swept is not None:
        enforced.add(Protection.PROCESS_SWEEP)
        if not c.swept:
            notes.append("some processes of the call could not be killed")
    if c.hit_process_limit:
        notes.append(f"the process limit was reached (max_processes={options.max_processes}): "
                     "creating a process or thread failed at least once")
    signum = exit_.get("signal") if exit_ else None
    code = exit_.get("exit") if exit_ else None
    killed = (c.timed_out or c.cpu_exceeded is not None or isinstance(signum, int)
              or (exit_ is None and c.returncode < 0))
    sig_name = "SIGKILL" if c.timed_out or c.cpu_exceeded is not None else None
    common: dict[str, Any] = dict(
        stdout=c.stdout.text(), stderr=c.stderr.text(), duration=c.duration, timed_out=c.timed_out,
        killed=killed, exit_code=code if isinstance(code, int) and not killed else None,
        network_isolated=bool(setup and setup.get("network_isolated")),
        output_truncated=bool(c.stdout.dropped or c.stderr.dropped),
        enforced=frozenset(enforced), notes=tuple(dict.fromkeys(notes)),
    )

    def fail(error: str, traceback: str | None = None, signal_name: str | None = sig_name) -> ExecutionResult:
        return ExecutionResult(ok=False, error=error, traceback=traceback, signal=signal_name, **common)

    if c.timed_out:
        return fail(f"timed out after {options.timeout:g}s")
    if c.cpu_exceeded is not None:
        return fail(f"CPU time limit exceeded: the call used {c.cpu_exceeded:.2f} s of CPU "
                    f"(cpu_seconds={options.cpu_seconds}, counted over all its processes)")
    if setup is None:
        return fail("the sandbox interpreter failed to start" if not c.status.data() else _CORRUPTED)
    if "fatal" in setup:
        return fail(f"sandbox setup failed: {setup['fatal']!s}")
    if isinstance(signum, int):
        name, error = _describe_signal(signum, c.out_of_memory, options.memory_mb)
        return fail(error, signal_name=name)
    if not isinstance(code, int):
        if c.out_of_memory:
            return fail(f"out of memory: the call reached its limit of memory_mb={options.memory_mb}",
                        signal_name="SIGKILL")
        return fail("the sandbox monitor ended without reporting how the code exited")
    return _from_result_channel(c, options, entry_point, code, fail, common)


def _from_result_channel(c: Collected, options: Options, entry_point: str | None, code: int,
                         fail: Callable[..., ExecutionResult],
                         common: dict[str, Any]) -> ExecutionResult:
    if c.result.dropped:
        return fail("return value too large to transfer (over max_result_bytes); return less data "
                    "or raise max_result_bytes")
    frames = parse_frames(c.result.data())
    if frames is None or [t for t, _ in frames] not in ([], [b"R"], [b"R", b"V"]):
        return fail(_CORRUPTED)
    envelope = _small(frames[0][1]) if frames else None
    if frames and (envelope is None or not isinstance(envelope.get("ok"), bool)):
        return fail(_CORRUPTED)
    what = "" if entry_point is None else f" before entry point {entry_point!r} returned"
    if envelope is None:  # the process ended without the worker's report (os._exit, exec, ...)
        if entry_point is None and code == 0:
            return ExecutionResult(ok=True, **common)
        return fail(f"process exited with code {code}{what}")
    if not envelope["ok"]:
        error, tb = _texts(envelope)
        return fail(error or "failed", tb)
    if code != 0 or (entry_point is None) != (len(frames) == 1):
        return fail(_CORRUPTED if code == 0 else f"process exited with code {code}{what}")
    if entry_point is None:
        return ExecutionResult(ok=True, **common)
    limits = _codec.Limits(max_bytes=options.max_result_bytes)
    started = time.monotonic()
    try:
        value = _codec.decode(frames[1][1], limits)
    except _codec.DecodeError as exc:
        return fail(f"the return value was refused: {exc}")
    common["duration"] = c.duration + (time.monotonic() - started)  # decoding is part of the call
    return ExecutionResult(ok=True, value=value, **common)
