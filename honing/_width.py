"""How many proposals run at once.

More proposals in flight keep the LM and the workers busy, but every
proposal is planned from the frontier as it was when it started: the wider
the run, the more proposals build on a parent that a sibling has since
improved on. The width is therefore a trade between wall-clock and the value
of each evaluation, and it is set from what the run can use:

* ``parallel=False`` runs one proposal at a time;
* ``max_proposals_in_flight`` fixes the width;
* otherwise an LM that serves few calls at once (the embedded model serves
  one) gets one proposal per slot plus one, so a child is judged while the
  next reply is written;
* any other LM gets an *adaptive* width, up to twice the workers: as many
  proposals as keep the chance that a proposal's parent is improved by
  another one while it runs at or under ``STALE``. With ``p`` the recent
  share of proposals whose child beat its parent on the minibatch, a proposal
  sees about ``w - 1`` others finish while it runs, and
  ``1 - (1 - p) ** (w - 1) <= STALE`` gives
  ``w <= 1 + -ln(1 - STALE) / -ln(1 - p)``: one in flight while more than
  about a third of the proposals succeed (early in a run, or whenever a noisy
  evaluator makes minibatch wins cheap), more once improvements get rare. One in flight still overlaps the LM with
  evaluation: a winner's validation race runs in the background while the
  next reply is written. (The share that *enters the pool*
  would be the wrong signal: parallel siblings that write the same
  improvement lose their races to each other, which would make success look
  rare and widen the run further.)
"""

from __future__ import annotations

import math
import threading
from typing import Any

# The chance, kept to, that a proposal's parent is replaced while the proposal runs. 0.5 ran the noisy
# workload of bench/search.py wider and lost 0.07 held-out score against 0.3 (10 seeds, 2026-11-30),
# for 16% less wall-clock; the budget is what users pay for, so the narrower rule is the default.
STALE = 0.3


class Width:
    def __init__(self, cap: int, *, adaptive: bool) -> None:
        self.cap = max(1, cap)
        self.adaptive = adaptive
        self._lock = threading.Lock()
        self._finished = 0
        self._admitted = 0
        self._rate = 0.5  # the share of recent proposals whose child won its minibatch

    @classmethod
    def for_run(cls, engine_config: Any, lm_slots: int | None) -> Width:
        if not engine_config.parallel:
            return cls(1, adaptive=False)
        if engine_config.max_proposals_in_flight is not None:
            return cls(engine_config.max_proposals_in_flight, adaptive=False)
        if lm_slots:
            return cls(lm_slots + 1, adaptive=False)
        return cls(max(2, 2 * engine_config.workers), adaptive=True)

    def current(self) -> int:
        if not self.adaptive:
            return self.cap
        with self._lock:
            rate = self._rate
        if rate < 1e-6:
            return self.cap
        width = 1 + -math.log1p(-STALE) / -math.log1p(-min(rate, 0.99))
        return max(1, min(self.cap, int(width)))

    def record(self, admitted: bool) -> None:
        """One proposal finished; ``admitted``: its child beat its parent on the minibatch."""
        with self._lock:
            self._finished += 1
            self._admitted += admitted
            # An exponential average over roughly the last ten proposals, starting from an even prior.
            self._rate += (float(admitted) - self._rate) * max(0.1, 1.0 / (self._finished + 1))
