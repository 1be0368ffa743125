"""Caller side, fallback only: find and kill what a call left behind without a PID namespace.

Used when the kernel refused a PID namespace (and the call's cgroup cannot kill either).
As root each call has its own uid, so its processes are exactly those of that uid.
``kill(-1, SIGKILL)`` sent *as that uid* reaches all of them in one system call, which a
fast fork chain cannot outrun the way it outruns a scan of ``/proc``; the scan then
checks, and kills by pid, counting a zombie thread-group leader as alive while any of
its threads still runs (its main thread called ``pthread_exit``, the others did not).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable

__all__ = ["kill_each", "processes_of", "sweep_uid"]

# Run by root, becomes the call's uid (the interpreter may sit where that uid cannot read).
_KILL_ALL = (
    "import os, sys\n"
    "uid = int(sys.argv[1])\n"
    "os.setgroups([])\n"
    "os.setresgid(uid, uid, uid)\n"
    "os.setresuid(uid, uid, uid)\n"
    "for _ in range(10000):\n"
    "    try:\n"
    "        os.kill(-1, 9)\n"
    "    except ProcessLookupError:\n"
    "        break\n"
)


def _uid_and_state(pid: str) -> tuple[str, str]:
    owner = state = ""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("State:"):
                state = line.split()[1]
            elif line.startswith("Uid:"):
                owner = line.split()[1]
                break
    return owner, state


def _has_live_thread(pid: str) -> bool:
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in ("Z", "X"):
            return True
    return False


def kill_each(pids: Iterable[int]) -> None:
    """SIGKILL every pid; one that has exited (or was reused by another user) meanwhile is no error."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def processes_of(uid: int) -> list[int]:
    """Pids of ``uid`` that still run code (zombie leaders with live threads included)."""
    wanted, found = str(uid), []  # type: tuple[str, list[int]]
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            owner, state = _uid_and_state(entry)
        except (OSError, IndexError):
            continue
        if owner == wanted and (state not in ("Z", "X") or _has_live_thread(entry)):
            found.append(int(entry))
    return found


def sweep_uid(uid: int, deadline_s: float = 5.0) -> bool:
    """Kill every process of ``uid``; True when none is left (checked by a final scan).

    ``kill(-1)`` goes first, always: a scan alone can miss a fork chain whose current
    member was born after the scan listed ``/proc`` and whose parent exited before.
    """
    deadline = time.monotonic() + deadline_s
    while True:
        if os.geteuid() == 0:
            try:
                subprocess.run([sys.executable, "-I", "-S", "-c", _KILL_ALL, str(uid)], cwd="/", check=False,
                               timeout=max(0.1, deadline - time.monotonic()),
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            except (OSError, subprocess.SubprocessError):
                pass
        kill_each(processes_of(uid))
        time.sleep(0.002)
        if not processes_of(uid):
            return True
        if time.monotonic() > deadline:
            return False
