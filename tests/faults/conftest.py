"""Every fault test runs under a wall-clock limit: a hang fails the test instead of stalling CI.

``@pytest.mark.limit_s(N)`` sets a test's limit (default ``DEFAULT_LIMIT_S``).
The limit is a ``SIGALRM`` in the main thread, which interrupts blocking calls
there (socket reads, sleeps, waits) and raises ``FaultTimeout``.
"""

from __future__ import annotations

import signal

import pytest

DEFAULT_LIMIT_S = 60


class FaultTimeout(Exception):
    """The test ran past its limit."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "limit_s(seconds): wall-clock limit of a fault test")


@pytest.fixture(autouse=True)
def _time_limit(request: pytest.FixtureRequest):
    marker = request.node.get_closest_marker("limit_s")
    limit = marker.args[0] if marker else DEFAULT_LIMIT_S

    def expire(signum, frame):
        raise FaultTimeout(f"{request.node.name} ran past its {limit} s limit")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
