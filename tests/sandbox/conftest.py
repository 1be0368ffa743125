"""Fixtures of the sandbox attack suite.

Every test is bounded twice: each ``run_code`` has its own small ``timeout``, and an
alarm fails any test that runs longer than ``TEST_LIMIT_S`` (a hung sandbox must fail
the suite, not stall CI).
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

TEST_LIMIT_S = 90


@pytest.fixture(autouse=True)
def _bounded_in_time():
    if not hasattr(signal, "setitimer"):
        yield
        return

    def expired(signum, frame):
        raise TimeoutError(f"sandbox test ran longer than {TEST_LIMIT_S} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, TEST_LIMIT_S)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def shared_dir(tmp_path: Path) -> Path:
    """A host directory the code may write to (given as ``cwd=``), for heartbeats and markers."""
    path = tmp_path / "shared"
    path.mkdir()
    path.chmod(0o777)
    return path
