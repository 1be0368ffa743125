"""Helpers of the sandbox attack suite (fixtures are in ``conftest.py``)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from honing.sandbox import ExecutionResult, Protection
from honing.sandbox._options import Options
from honing.sandbox._subprocess import run_subprocess

AS_ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="the subprocess sandbox targets Linux")
root_only = pytest.mark.skipif(not AS_ROOT, reason="guaranteed only when the caller is root")


def degraded(code: str, entry_point: str | None = None, args: tuple = (), *, refuse: set[str],
             **settings) -> ExecutionResult:
    """Run as if the machine refused some namespaces (or cgroups): the fallback paths."""
    base = dict(timeout=10.0, memory_mb=512, cpu_seconds=None, max_processes=32, file_size_mb=16,
                max_output_bytes=1 << 16, max_result_bytes=1 << 20, network=False, scratch_mb=64)
    base.update(settings)
    return run_subprocess(code, entry_point, args, {}, Options(**base, refuse=frozenset(refuse)))


def has(result: ExecutionResult, protection: Protection) -> bool:
    return protection in result.enforced


def heartbeat_stops(path: Path, settle_s: float = 0.6) -> bool:
    """True if ``path`` (appended to by leftovers of a call) stops growing."""
    def size() -> int:
        return path.stat().st_size if path.exists() else 0

    before = size()
    time.sleep(settle_s)
    return size() == before
