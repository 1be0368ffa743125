"""The result type shared by both execution modes, plus a capped output buffer."""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass
from typing import Any

__all__ = ["CappedBuffer", "ExecutionResult", "Protection"]


class Protection(str, enum.Enum):
    """One protection a call really had; ``ExecutionResult.enforced`` lists them.

    A ``str`` enum, so ``"seccomp" in result.enforced`` works as well as
    ``Protection.SECCOMP in result.enforced``. See ``docs/sandbox.md`` for what each means.
    """

    WALL_CLOCK = "wall_clock"  # killed at ``timeout`` (every mode)
    PID_NAMESPACE = "pid_namespace"  # own PID namespace: nothing outlives the call
    FILESYSTEM = "filesystem"  # minimal read-only view, private /sandbox, /tmp, /var/tmp, /dev/shm
    NETWORK_NAMESPACE = "network_namespace"  # empty network namespace (``network=False``)
    IPC_NAMESPACE = "ipc_namespace"
    USER_NAMESPACE = "user_namespace"  # unprivileged callers: namespaces through a user namespace
    PRIVATE_UID = "private_uid"  # root callers: a throwaway uid/gid per call
    SECCOMP = "seccomp"  # system call filter (keyring, io_uring, ptrace, bpf, mount, namespaces...)
    SESSION_KEYRING = "session_keyring"  # a fresh, empty session keyring
    MEMORY_CGROUP = "memory_cgroup"  # ``memory_mb`` for the whole call (tmpfs and memfd included)
    PIDS_CGROUP = "pids_cgroup"  # ``max_processes`` for the whole call
    CPU_CGROUP = "cpu_cgroup"  # ``cpu_seconds`` for the whole call
    MEMORY_RLIMIT = "memory_rlimit"  # ``memory_mb`` of address space per process
    CPU_RLIMIT = "cpu_rlimit"  # ``cpu_seconds`` per process
    PROCESSES_RLIMIT = "processes_rlimit"  # ``max_processes`` per uid
    FILE_SIZE_RLIMIT = "file_size_rlimit"  # ``file_size_mb`` per file
    PROCESS_SWEEP = "process_sweep"  # no PID namespace: leftovers killed by cgroup or uid

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    """What happened when a piece of untrusted code ran.

    ``ok`` is the one flag most callers need: the code ran to completion (and, with
    an entry point, returned a value that crossed back). Everything else explains
    *why* not, in a form that can be fed straight back to an LLM.
    """

    ok: bool
    value: Any = None
    stdout: str = ""
    stderr: str = ""
    error: str | None = None
    traceback: str | None = None
    duration: float = 0.0
    timed_out: bool = False
    killed: bool = False  # terminated by a signal (our timeout kill, SIGSEGV, SIGXCPU, ...)
    network_isolated: bool = False  # the code really ran without network access
    exit_code: int | None = None  # interpreter exit status; None when killed or in-process
    signal: str | None = None  # e.g. "SIGSEGV" when the process died from a signal
    output_truncated: bool = False
    mode: str = "subprocess"
    enforced: frozenset[Protection] = frozenset()  # the protections this call really had
    notes: tuple[str, ...] = ()  # what was weaker than asked for, and why

    def feedback(self, max_chars: int = 4000) -> str:
        """A compact text report (error, traceback, output tails) for reflection prompts."""
        parts: list[str] = ["ok" if self.ok else f"failed: {self.error}"]
        if self.traceback:
            parts.append("traceback:\n" + _tail(self.traceback, max_chars // 2))
        for name, text in (("stdout", self.stdout), ("stderr", self.stderr)):
            if text.strip():
                parts.append(f"{name}:\n" + _tail(text, max_chars // 4))
        return _tail("\n".join(parts), max_chars)


def _tail(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return "..." + text[-max(limit - 3, 0):]


class CappedBuffer:
    """Keeps the first ``limit`` bytes written and counts the rest.

    Untrusted code may print gigabytes; we keep draining (so the code is not
    blocked or changed in behaviour) but never hold more than ``limit`` bytes.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._chunks: list[bytes] = []
        self._kept = 0
        self.dropped = 0
        self._lock = threading.Lock()

    def write_bytes(self, data: bytes) -> None:
        with self._lock:
            room = self.limit - self._kept
            if room > 0:
                piece = data[:room]
                self._chunks.append(piece)
                self._kept += len(piece)
            self.dropped += max(len(data) - max(room, 0), 0)

    def data(self) -> bytes:
        with self._lock:
            return b"".join(self._chunks)

    def text(self) -> str:
        with self._lock:
            out = b"".join(self._chunks).decode("utf-8", errors="replace")
            if self.dropped:
                out += f"\n[honing.sandbox: output truncated, {self.dropped} more bytes dropped]\n"
            return out
