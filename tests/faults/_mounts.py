"""Run a scenario in a private mount namespace, where it may mount a small or read-only tmpfs.

Disk-full and read-only-mount cases need a real filesystem in that state.
``unshare -rm`` gives one without touching the host's mounts (as root, or as
any user where unprivileged user namespaces are allowed); where neither
works the test is skipped, and the ``max_page_count`` tests still cover the
disk-full error path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PRELUDE = '''
import os, subprocess, sys
sys.path.insert(0, {root!r})
def mount_tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={{size}}", "tmpfs", path], check=True)
def remount(path, options):
    subprocess.run(["mount", "-o", "remount," + options, path], check=True)
'''


def _can_unshare() -> bool:
    if sys.platform != "linux" or shutil.which("unshare") is None or shutil.which("mount") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "mount", "-t", "tmpfs", "tmpfs", "/mnt"], capture_output=True,
                           timeout=20)
    return probe.returncode == 0


def run_with_mounts(script: str, timeout: float = 60) -> str:
    """Run ``script`` (Python, with ``mount_tmpfs`` and ``remount`` defined) and return its stdout."""
    if not _can_unshare():
        pytest.skip("needs `unshare -rm` (a private mount namespace) to mount a tmpfs")
    code = PRELUDE.format(root=str(ROOT)) + textwrap.dedent(script)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(["unshare", "-rm", sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout
