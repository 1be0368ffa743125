"""Every fault test runs under a wall-clock limit: a hang fails the test instead of stalling CI.

``@pytest.mark.limit_s(N)`` sets a test's limit (default ``DEFAULT_LIMIT_S``).
The limit is a ``SIGALRM`` in the main thread, which interrupts blocking calls
there (socket reads, sleeps, waits) and raises ``FaultTimeout``.
"""

from __future__ import annotations

import pytest

from tests.conftest import wall_clock_limit

DEFAULT_LIMIT_S = 60


class FaultTimeout(Exception):
    """The test ran past its limit."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "limit_s(seconds): wall-clock limit of a fault test")


@pytest.fixture(autouse=True)
def _time_limit(request: pytest.FixtureRequest):
    marker = request.node.get_closest_marker("limit_s")
    limit = marker.args[0] if marker else DEFAULT_LIMIT_S
    with wall_clock_limit(limit, lambda: FaultTimeout(f"{request.node.name} ran past its {limit} s limit")):
        yield
