"""Caller side of subprocess mode: start the runner, enforce the clock, collect, clean up.

Safe to call from many threads at once: no signal handlers, no fork of the calling
process (``subprocess`` uses vfork + exec), and each call has its own pipes, cgroup,
temporary directory and (as root) its own throwaway uid. Waiting is event driven: the
runner's exit arrives on a pidfd, output and frames on pipes, so nothing sleeps on a
poll interval. Every pipe is drained into a bounded buffer or closed when it overflows.
"""

from __future__ import annotations

import os
import pickle
import pwd
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from . import _codec
from ._cgroups import CallCgroup
from ._options import Options
from ._result import CappedBuffer, ExecutionResult, Protection
from ._verdict import Collected, verdict
from ._view import interpreter_view

_RUNNER = Path(__file__).with_name("_runner.py")
# Throwaway uids for sandboxed code when we run as root: far above any real account,
# one per call so RLIMIT_NPROC is per call and leftovers can be found by uid.
_UID_BASE, _UID_SPAN = 1_600_000_000, 400_000_000
_active_uids: set[int] = set()
_uid_lock = threading.Lock()
_STATUS_CAP = 1 << 17
_FRAME_SLACK = 1 << 18  # the result envelope (error text, traceback) on top of the value
_CPU_CHECK_S = 0.1
_GRACE_S = 1.0


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


def _encode_arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[bytes, bool]:
    """Arguments as codec bytes, or as a pickle when they hold other types (the caller trusts them)."""
    try:
        return _codec.encode((tuple(args), dict(kwargs)), max_bytes=1 << 40, max_depth=1000), False
    except (_codec.EncodeError, RecursionError):
        return pickle.dumps((tuple(args), dict(kwargs)), protocol=pickle.HIGHEST_PROTOCOL), True


def _memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(name, 0) if hasattr(os, "memfd_create") else _tempfile_fd()
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _tempfile_fd() -> int:
    fd, path = tempfile.mkstemp(prefix="honing-sbx-")
    os.unlink(path)
    return fd


def run_subprocess(code: str, entry_point: str | None, args: tuple[Any, ...], kwargs: dict[str, Any],
                   options: Options) -> ExecutionResult:
    start = time.monotonic()
    try:
        arguments, pickled = _encode_arguments(args, kwargs)
    except Exception as exc:  # noqa: BLE001 - caller data, reported not raised
        return ExecutionResult(ok=False, error=f"arguments are not serializable: {exc}")
    as_root = os.geteuid() == 0
    uid = _allocate_uid() if as_root else None
    base = tempfile.mkdtemp(prefix=f"honing-sbx-{os.getpid()}-")
    if "cgroups" in options.refuse:
        cgroup = CallCgroup(notes=["cgroups not used (refused for a test)"])
    else:
        cgroup = CallCgroup.create(options.memory_mb, options.max_processes, options.cpu_seconds is not None)
    try:
        job = _job(code, entry_point, arguments, pickled, options, uid, base, cgroup)
        return _run(job, options, uid, cgroup, start)
    finally:
        cgroup.kill()
        cgroup.remove()
        shutil.rmtree(base, ignore_errors=True)
        _release_uid(uid)


def _job(code: str, entry_point: str | None, arguments: bytes, pickled: bool, options: Options,
         uid: int | None, base: str, cgroup: CallCgroup) -> dict[str, Any]:
    os.chmod(base, 0o711)  # traversable for the fallback work directory inside, not listable
    view = interpreter_view()
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
        "USER": "sandbox", "LOGNAME": "sandbox",
        # one thread per BLAS pool: threads count against the process limit
        "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    }
    env.update(options.env)
    return {
        "code": code, "entry_point": entry_point, "args": arguments, "args_pickled": pickled,
        "uid": uid, "gid": uid, "caller_pid": os.getpid(),
        "memory_mb": options.memory_mb, "cpu_seconds": options.rlimit_cpu_seconds,
        "max_processes": options.max_processes, "file_size_mb": options.file_size_mb,
        "max_result_bytes": options.max_result_bytes, "network": options.network,
        "refuse_namespaces": sorted(options.refuse - {"cgroups"}), "in_cgroup": bool(cgroup.directories),
        "pids_cgroup": Protection.PIDS_CGROUP in cgroup.enforced,
        "env": env, "cwd": options.cwd, "runner_notes": [],
        "site_paths": list(view.site_paths), "pth_lines": list(view.pth_lines),
        "prefix": sys.prefix, "exec_prefix": sys.exec_prefix,
        "plan": {
            "base": base, "interpreter": list(view.paths), "readable": list(options.readable),
            "cwd": options.cwd, "devices": list(options.devices), "files": dict(options.files),
            "scratch_mb": options.scratch_mb, "network": options.network,
        },
    }


def _run(job: dict[str, Any], options: Options, uid: int | None, cgroup: CallCgroup,
         start: float) -> ExecutionResult:
    job_fd = _memfd("honing-job", _codec.encode(job, max_bytes=1 << 40, max_depth=1000))
    stdin: Any = subprocess.DEVNULL if options.stdin is None else _memfd("honing-stdin", options.stdin)
    go_r, go_w = os.pipe()
    status_r, status_w = os.pipe()
    result_r, result_w = os.pipe()
    child_fds = (job_fd, go_r, status_w, result_w)
    cmd = [sys.executable, "-I", "-S", "-u", "-X", "utf8", str(_RUNNER)] + [str(fd) for fd in child_fds]
    try:
        proc = subprocess.Popen(
            cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=child_fds,
            cwd="/", start_new_session=True, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"},
        )
    except OSError as exc:
        for fd in (status_r, result_r, go_w):
            os.close(fd)
        return ExecutionResult(ok=False, error=f"could not start the sandbox: {exc}",
                               duration=time.monotonic() - start)
    finally:
        for fd in child_fds + (() if stdin is subprocess.DEVNULL else (stdin,)):
            os.close(fd)
    try:
        cgroup.join(proc.pid)  # while the runner's interpreter starts up
        os.write(go_w, b"g")
    except OSError:
        pass  # the runner died already; the pump sees it exit
    finally:
        os.close(go_w)
    collected = Collected(
        stdout=CappedBuffer(options.max_output_bytes), stderr=CappedBuffer(options.max_output_bytes),
        status=CappedBuffer(_STATUS_CAP), result=CappedBuffer(options.max_result_bytes + _FRAME_SLACK),
    )
    assert proc.stdout is not None and proc.stderr is not None  # both are pipes
    pump = _Pump(proc, collected, {proc.stdout.fileno(): collected.stdout, proc.stderr.fileno(): collected.stderr,
                                   status_r: collected.status, result_r: collected.result},
                 start + options.timeout, cgroup, options, uid)
    try:
        pump.run()
    finally:
        _kill_group(proc)
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
        for fd in (status_r, result_r):
            if fd not in pump.closed:
                os.close(fd)
    collected.duration = time.monotonic() - start
    collected.returncode = proc.returncode
    collected.out_of_memory = cgroup.out_of_memory()
    collected.hit_process_limit = cgroup.hit_process_limit()
    return verdict(collected, options, entry_point=job["entry_point"], cgroup=cgroup)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass


class _Pump:
    """Drains the pipes until the runner has exited and every pipe is closed, or time is up."""

    def __init__(self, proc: subprocess.Popen[bytes], collected: Collected, sinks: dict[int, CappedBuffer],
                 deadline: float, cgroup: CallCgroup, options: Options, uid: int | None) -> None:
        self.proc, self.collected, self.sinks = proc, collected, sinks
        self.deadline, self.cgroup, self.options, self.uid = deadline, cgroup, options, uid
        self.sel = selectors.DefaultSelector()
        self.pidfd: int | None = None
        self.exited = False
        self.grace_until: float | None = None
        self.closed: set[int] = set()

    def run(self) -> None:
        for fd in self.sinks:
            os.set_blocking(fd, False)
            self.sel.register(fd, selectors.EVENT_READ)
        try:
            self.pidfd = os.pidfd_open(self.proc.pid)
            self.sel.register(self.pidfd, selectors.EVENT_READ)
        except (AttributeError, OSError):  # no pidfd (old kernel or not Linux): poll the exit
            self.pidfd = None
        try:
            self._loop()
        finally:
            self.sel.close()
            if self.pidfd is not None:
                os.close(self.pidfd)

    def _loop(self) -> None:
        next_cpu = time.monotonic() + _CPU_CHECK_S
        cpu_limit = self.options.cpu_seconds
        watch_cpu = cpu_limit is not None and self.cgroup.cpu_dir is not None
        while True:
            if self.exited and not any(fd in self.sel.get_map() for fd in self.sinks):
                return
            now = time.monotonic()
            if self.grace_until is not None and now >= self.grace_until:
                return  # leftovers keep a pipe open: stop waiting, the caller kills them
            if not self.exited and now >= self.deadline:
                self.collected.timed_out = True
                self._stop()
                continue
            if watch_cpu and not self.exited and now >= next_cpu:
                used = self.cgroup.cpu_seconds()
                if used is not None and cpu_limit is not None and used > cpu_limit:
                    self.collected.cpu_exceeded = used
                    self._stop()
                    continue
                next_cpu = now + _CPU_CHECK_S
            limit = self.grace_until if self.grace_until is not None else self.deadline
            if watch_cpu and not self.exited:
                limit = min(limit, next_cpu)
            wait = max(0.0, limit - now)
            if self.pidfd is None and not self.exited:
                wait = min(wait, 0.005)
            for key, _ in self.sel.select(timeout=wait):
                if key.fd == self.pidfd:
                    self.sel.unregister(self.pidfd)
                    self._runner_exited()
                else:
                    self._read(key.fd)
            if self.pidfd is None and not self.exited and self.proc.poll() is not None:
                self._runner_exited()

    def _read(self, fd: int) -> None:
        sink = self.sinks[fd]
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self.sel.unregister(fd)
            return
        sink.write_bytes(chunk)
        if sink.dropped and sink in (self.collected.result, self.collected.status):
            # Hostile volume on a frame channel: close it, so the writer gets EPIPE instead of blocking.
            self.sel.unregister(fd)
            os.close(fd)
            self.closed.add(fd)

    def _stop(self) -> None:
        """Kill the call now (timeout or CPU limit), then wait briefly for the pipes to close."""
        _kill_group(self.proc)
        self.cgroup.kill()
        self._runner_exited()

    def _runner_exited(self) -> None:
        if self.exited:
            return
        self.exited = True
        self.grace_until = time.monotonic() + _GRACE_S
        # With a PID namespace everything is gone already; without one, kill what is left.
        emptied = self.cgroup.kill() if self.cgroup.directories else False
        if not self._pid_namespace():
            if self.uid is not None:
                from ._sweep import sweep_uid

                self.collected.swept = sweep_uid(self.uid)
            elif self.cgroup.directories:
                self.collected.swept = emptied

    def _pid_namespace(self) -> bool:
        from ._verdict import setup_report

        report = setup_report(self.collected.status.data())
        return bool(report and "pid_namespace" in report.get("enforced", ()))
