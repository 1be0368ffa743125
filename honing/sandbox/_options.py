"""The settings of one sandboxed call, checked once and passed whole."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["Options"]


@dataclass(frozen=True)
class Options:
    """Everything ``run_code`` was asked for, validated (see ``run_code`` for the meaning)."""

    timeout: float
    memory_mb: int
    cpu_seconds: int | None  # None: only a per-process backstop of ceil(timeout) + 1 s
    max_processes: int
    file_size_mb: int
    max_output_bytes: int
    max_result_bytes: int
    network: bool
    scratch_mb: int
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    cwd: str | None = None
    stdin: bytes | None = None
    files: Mapping[str, bytes] = field(default_factory=lambda: MappingProxyType({}))
    readable: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    # Tests of the degraded paths only: act as if the machine refused these namespaces
    # ("pid", "mount", "network", "ipc", "uts", "cgroup", "user") or "cgroups".
    refuse: frozenset[str] = frozenset()

    @property
    def rlimit_cpu_seconds(self) -> int:
        if self.cpu_seconds is not None:
            return self.cpu_seconds
        return int(-(-self.timeout // 1)) + 1


def check_file_name(name: object) -> str:
    """A ``files=`` key: a relative path inside the work directory."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"files= keys must be non-empty str paths, not {name!r}")
    parts = name.replace(os.sep, "/").split("/")
    if name.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\0" in name:
        raise ValueError(f"files= key {name!r} must be a plain relative path inside the work directory "
                         "(no leading '/', no '.' or '..' parts)")
    return name
