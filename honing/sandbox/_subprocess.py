"""Parent side of subprocess mode: launch the runner, enforce the wall clock, collect output.

Everything here is safe to call from many threads at once: no signal handlers, no
fork of the calling process (``subprocess`` uses posix_spawn/vfork + exec), and each
call has its own pipes, temporary directory and (as root) its own throwaway uid.
"""

from __future__ import annotations

import json
import os
import pickle
import pwd
import secrets
import selectors
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ._result import CappedBuffer, ExecutionResult
from ._unpickle import RefusedGlobal, safe_loads

_RUNNER = Path(__file__).with_name("_runner.py")
# Throwaway uids for sandboxed code when we run as root: far above any real account,
# one per call so RLIMIT_NPROC is per call and leftovers can be found and killed by uid.
_UID_BASE, _UID_SPAN = 1_600_000_000, 400_000_000
_active_uids: set[int] = set()
_uid_lock = threading.Lock()
_POLL = 0.05


@dataclass(frozen=True)
class Limits:
    timeout: float
    memory_mb: int
    cpu_seconds: int
    max_processes: int
    file_size_mb: int
    max_output_bytes: int
    network: bool
    env: Mapping[str, str] | None
    cwd: str | None
    stdin: bytes | None


def _allocate_uid() -> int:
    with _uid_lock:
        while True:
            uid = _UID_BASE + secrets.randbelow(_UID_SPAN)
            if uid in _active_uids:
                continue
            try:
                pwd.getpwuid(uid)
            except KeyError:
                _active_uids.add(uid)
                return uid


def _release_uid(uid: int | None) -> None:
    if uid is not None:
        with _uid_lock:
            _active_uids.discard(uid)


def _expose_list(cwd: str | None) -> list[str]:
    """Paths the sandboxed interpreter must be able to read after dropping to its uid."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    paths.update(p for p in sys.path if p and os.path.isabs(p))
    if cwd:
        paths.add(os.path.abspath(cwd))
    out = set()
    for p in paths:
        if os.path.exists(p):
            out.update({os.path.normpath(p), os.path.realpath(p)})
    return sorted(out)


def _environment(home: str, extra: Mapping[str, str] | None) -> dict[str, str]:
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": home,
        "TMPDIR": home,
        "USER": "sandbox",
        "LOGNAME": "sandbox",
        # one thread per BLAS pool: threads count against the process limit
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    env.update({str(k): str(v) for k, v in (extra or {}).items()})
    return env


def _has_exited(proc: subprocess.Popen) -> bool:
    """True once the child exited, without reaping it (so its pgid stays ours to kill)."""
    if not hasattr(os, "waitid"):  # no waitid (macOS): reaping is the only way to ask
        return proc.poll() is not None
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _sweep_uid(uid: int) -> None:
    """SIGKILL every live process owned by ``uid`` (catches ones that left the group)."""
    wanted = str(uid)
    for _ in range(200):
        found = 0
        try:
            entries = os.listdir("/proc")
        except OSError:
            return
        for entry in entries:
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/status") as fh:
                    state = owner = ""
                    for line in fh:
                        if line.startswith("State:"):
                            state = line.split()[1]
                        elif line.startswith("Uid:"):
                            owner = line.split()[1]
                            break
            except (OSError, IndexError):
                continue
            if owner == wanted and state != "Z":
                found += 1
                try:
                    os.kill(int(entry), signal.SIGKILL)
                except OSError:
                    pass
        if not found:
            return
        time.sleep(0.001)


def _kill_all(proc: subprocess.Popen, uid: int | None) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    if uid is not None:
        _sweep_uid(uid)


def _parse_frames(data: bytes) -> dict[str, bytes]:
    frames: dict[str, bytes] = {}
    pos = 0
    while pos + 9 <= len(data):
        tag = data[pos:pos + 1].decode("latin-1")
        (size,) = struct.unpack(">Q", data[pos + 1:pos + 9])
        if pos + 9 + size > len(data):
            break
        frames.setdefault(tag, data[pos + 9:pos + 9 + size])
        pos += 9 + size
    return frames


def _json_frame(frames: dict[str, bytes], tag: str) -> dict[str, Any] | None:
    """Decode a JSON frame; anything malformed (the code can write to the pipe) is None."""
    try:
        data = json.loads(frames[tag])
    except (KeyError, ValueError):
        return None
    return data if isinstance(data, dict) else None


_CORRUPTED = "the code corrupted the sandbox's result channel"


def _valid_envelope(env: dict[str, Any]) -> bool:
    return (isinstance(env.get("ok"), bool)
            and all(isinstance(env.get(k), (str, type(None))) for k in ("error", "traceback")))


def _describe_signal(num: int, timed_out: bool) -> tuple[str, str]:
    try:
        name = signal.Signals(num).name
    except ValueError:
        name = f"signal {num}"
    if num == signal.SIGXCPU:
        return name, "CPU time limit exceeded (SIGXCPU)"
    if num == signal.SIGSEGV:
        return name, "crashed with SIGSEGV (segmentation fault)"
    if num == signal.SIGKILL and not timed_out:
        return name, "killed by SIGKILL (out of memory or a limit was hit)"
    return name, f"killed by {name}"


def run_subprocess(
    code: str, entry_point: str | None, args: tuple, kwargs: dict[str, Any], limits: Limits
) -> ExecutionResult:
    start = time.monotonic()
    try:
        arguments = pickle.dumps((tuple(args), dict(kwargs)), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # noqa: BLE001 - caller data, reported not raised
        return ExecutionResult(ok=False, error=f"arguments are not serializable: {exc}")
    uid = _allocate_uid() if os.geteuid() == 0 else None
    base = tempfile.mkdtemp(prefix="honing-sbx-")
    try:
        return _run(code, entry_point, arguments, limits, uid, base, start)
    finally:
        shutil.rmtree(base, ignore_errors=True)
        _release_uid(uid)


def _run(code: str, entry_point: str | None, arguments: bytes, limits: Limits,
         uid: int | None, base: str, start: float) -> ExecutionResult:
    os.chmod(base, 0o711)  # traversable (the code's home is inside), not listable
    home = os.path.join(base, "work")
    os.mkdir(home, 0o700)
    if uid is not None:
        os.chown(home, uid, uid)
    job_path = os.path.join(base, "job.pickle")  # stays root-only; read before the drop
    job = {
        "code": code, "entry_point": entry_point, "arguments": arguments,
        "memory_mb": limits.memory_mb, "cpu_seconds": limits.cpu_seconds,
        "max_processes": limits.max_processes, "file_size_mb": limits.file_size_mb,
        "network": limits.network, "uid": uid,
        "expose": _expose_list(limits.cwd) if uid is not None else [],
    }
    with open(os.open(job_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as fh:
        pickle.dump(job, fh, protocol=pickle.HIGHEST_PROTOCOL)
    stdin: Any = subprocess.DEVNULL
    if limits.stdin is not None:
        stdin = tempfile.TemporaryFile(dir=base)
        stdin.write(limits.stdin)
        stdin.seek(0)
    r, w = os.pipe()
    cmd = [sys.executable, "-I", "-B", "-u", "-X", "utf8", str(_RUNNER), str(w), job_path]
    try:
        proc = subprocess.Popen(
            cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(w,),
            cwd=limits.cwd or home, env=_environment(home, limits.env), start_new_session=True,
        )
    except OSError as exc:
        os.close(r)
        return ExecutionResult(ok=False, error=f"could not start the sandbox: {exc}",
                               duration=time.monotonic() - start)
    finally:
        os.close(w)
        if stdin is not subprocess.DEVNULL:
            stdin.close()
    out = CappedBuffer(limits.max_output_bytes)
    err = CappedBuffer(limits.max_output_bytes)
    ctl = CappedBuffer(limits.memory_mb * (1 << 20) + (1 << 20))
    try:
        timed_out = _pump(proc, {proc.stdout.fileno(): out, proc.stderr.fileno(): err, r: ctl},
                          start + limits.timeout, uid)
        proc.wait()
    finally:
        os.close(r)
        proc.stdout.close()
        proc.stderr.close()
    duration = time.monotonic() - start
    return _assemble(proc.returncode, timed_out, ctl, out, err, entry_point, limits, duration)


def _pump(proc: subprocess.Popen, sinks: dict[int, CappedBuffer], deadline: float,
          uid: int | None) -> bool:
    """Drain the pipes until the code is finished or the deadline passes; returns timed_out."""
    sel = selectors.DefaultSelector()
    for fd in sinks:
        sel.register(fd, selectors.EVENT_READ)
    timed_out = cleaned = False
    grace_until = 0.0
    try:
        while sel.get_map():
            now = time.monotonic()
            if not cleaned and (now >= deadline or _has_exited(proc)):
                timed_out = now >= deadline and not _has_exited(proc)
                _kill_all(proc, uid)  # the code is done: nothing it started may outlive it
                cleaned, grace_until = True, now + 1.0
            if cleaned and now >= grace_until:
                break
            limit = grace_until if cleaned else deadline
            for key, _ in sel.select(timeout=max(0.0, min(limit - now, _POLL))):
                chunk = os.read(key.fd, 1 << 16)
                if chunk:
                    sinks[key.fd].write_bytes(chunk)
                else:
                    sel.unregister(key.fd)
    finally:
        sel.close()
    while not cleaned:  # the code closed its pipes but is still running
        now = time.monotonic()
        if now >= deadline or _has_exited(proc):
            timed_out = now >= deadline and not _has_exited(proc)
            _kill_all(proc, uid)
            cleaned = True
        else:
            time.sleep(min(_POLL, deadline - now))
    return timed_out


def _assemble(returncode: int, timed_out: bool, ctl: CappedBuffer, out: CappedBuffer,
              err: CappedBuffer, entry_point: str | None, limits: Limits,
              duration: float) -> ExecutionResult:
    frames = _parse_frames(ctl.data())
    setup = _json_frame(frames, "S")
    envelope = _json_frame(frames, "R")
    sig_name = None
    exit_code = returncode if returncode >= 0 else None
    common = dict(
        stdout=out.text(), stderr=err.text(), duration=duration, timed_out=timed_out,
        killed=returncode < 0, exit_code=exit_code, network_isolated=bool(setup and setup.get("network_isolated")),
        output_truncated=bool(out.dropped or err.dropped),
    )
    if returncode < 0:
        sig_name, sig_error = _describe_signal(-returncode, timed_out)
        common["signal"] = sig_name
    if setup is None:
        error = _CORRUPTED if "S" in frames else "the sandbox interpreter failed to start"
        return ExecutionResult(ok=False, error=error, **common)
    if "fatal" in setup:
        return ExecutionResult(ok=False, error=f"sandbox setup failed: {setup['fatal']!s}", **common)
    if timed_out:
        return ExecutionResult(ok=False, error=f"timed out after {limits.timeout:g}s", **common)
    if ctl.dropped:
        return ExecutionResult(ok=False, error="return value too large to transfer", **common)
    if "R" in frames and (envelope is None or not _valid_envelope(envelope)):
        return ExecutionResult(ok=False, error=_CORRUPTED, **common)
    if envelope is not None:
        if not envelope["ok"]:
            return ExecutionResult(ok=False, error=envelope.get("error") or "failed",
                                   traceback=envelope.get("traceback"), **common)
        if entry_point is None:
            if exit_code == 0:
                return ExecutionResult(ok=True, **common)
            return ExecutionResult(ok=False, error=sig_error if sig_name else f"exited with code {exit_code}", **common)
        if "V" not in frames:
            return ExecutionResult(ok=False, error="the return value was lost", **common)
        try:
            value = safe_loads(frames["V"])
        except RefusedGlobal as exc:
            return ExecutionResult(ok=False, error=(
                f"return value cannot be transferred: it contains {exc.qualified}; return JSON-like "
                "data, NumPy arrays or other plain builtin values"), **common)
        except Exception as exc:  # noqa: BLE001
            return ExecutionResult(ok=False, error=f"return value could not be loaded: {exc}", **common)
        return ExecutionResult(ok=True, value=value, **common)
    if sig_name:
        return ExecutionResult(ok=False, error=sig_error, **common)
    if entry_point is None and exit_code == 0:
        return ExecutionResult(ok=True, **common)
    what = "" if entry_point is None else f" before entry point {entry_point!r} returned"
    return ExecutionResult(ok=False, error=f"process exited with code {exit_code}{what}", **common)
