"""Fixtures of the sandbox attack suite.

Every test is bounded twice: each ``run_code`` has its own small ``timeout``, and an
alarm fails any test that runs longer than ``TEST_LIMIT_S`` (a hung sandbox must fail
the suite, not stall CI).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import wall_clock_limit

TEST_LIMIT_S = 90


@pytest.fixture(autouse=True)
def _bounded_in_time():
    with wall_clock_limit(TEST_LIMIT_S, lambda: TimeoutError(f"sandbox test ran longer than {TEST_LIMIT_S} s")):
        yield


@pytest.fixture
def shared_dir(tmp_path: Path) -> Path:
    """A host directory the code may write to (given as ``cwd=``), for heartbeats and markers."""
    path = tmp_path / "shared"
    path.mkdir()
    path.chmod(0o777)
    return path
