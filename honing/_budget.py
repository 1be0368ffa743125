"""The evaluation budget: a hard ceiling on evaluator calls, whatever the concurrency.

Every evaluator call first takes a unit from the budget under a lock; a call
that finds none left never happens. Units taken for work that turned out to
be unnecessary (a cache hit found after reserving) are given back.
"""

from __future__ import annotations

import threading


class Budget:
    def __init__(self, limit: int | None, spent: int = 0) -> None:
        self.limit = limit
        self._spent = spent
        self._lock = threading.Lock()

    def try_acquire(self, n: int = 1) -> int:
        """Take up to ``n`` units; returns how many were granted (possibly 0)."""
        with self._lock:
            granted = n if self.limit is None else max(0, min(n, self.limit - self._spent))
            self._spent += granted
            return granted

    def restore(self, spent: int) -> None:
        """Count what earlier sessions of a resumed run already spent."""
        with self._lock:
            self._spent = spent

    def refund(self, n: int = 1) -> None:
        with self._lock:
            self._spent -= n

    @property
    def spent(self) -> int:
        return self._spent

    @property
    def remaining(self) -> int | None:
        with self._lock:
            return None if self.limit is None else max(0, self.limit - self._spent)
