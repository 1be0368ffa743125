"""How many CPU threads the embedded model should use: as many as there are free cores.

llama.cpp's threads meet after every step of every token, so each token waits
for the slowest of them. When other work holds a core, one of the model's
threads is often not running, and generation collapses: on 2 cores with other
jobs running (load 3-5) the 1.5B model wrote 7.5-10 tokens/s with one thread
and 1.5-1.8 with two. On an idle machine two threads were about 1.6x faster
than one. So the count follows what is free: the cores this process may use
minus the load the rest of the machine puts on them.

Two measures of "other load", because each misleads alone:

* ``recent_other_load``: CPU time other processes used over the last second
  (``/proc/stat`` minus this process). It sees load that just started or just
  ended, but a short burst (one sandboxed evaluation) looks like lasting load.
* ``other_load``: the kernel's 1-minute load average minus this process's own
  recent CPU use (tracked with the same one-minute decay). Steady, but a minute
  late: right after a test run ends it still reads two busy cores.

The model picks its first thread count from the recent measure (what is free
now) and changes it later only when both agree (``threads_for``), since a change
means reloading the model. Evaluations run in subprocesses (the sandbox) count
as other load, which they are.
"""

from __future__ import annotations

import math
import os
import threading
import time

__all__ = ["usable_cores", "other_load", "recent_other_load", "choose_threads", "threads_for", "OwnLoad"]

_DECAY_S = 60.0  # the kernel's 1-minute load average is an exponential average with this time constant


def usable_cores() -> int:
    """CPUs this process may run on (its affinity mask, which containers often narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def load_average() -> float | None:
    """The 1-minute load average, or None where the platform has none."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


class OwnLoad:
    """This process's CPU use (all its threads) as a one-minute exponential average, like the load average."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = (time.monotonic(), time.process_time())
        self._average = 0.0

    def sample(self) -> float:
        """Update with the CPU time used since the last sample; returns the average in busy cores."""
        with self._lock:
            now, cpu = time.monotonic(), time.process_time()
            then, cpu_then = self._last
            elapsed = now - then
            if elapsed > 0.5:
                rate = max(0.0, cpu - cpu_then) / elapsed
                keep = math.exp(-elapsed / _DECAY_S)
                self._average = self._average * keep + rate * (1.0 - keep)
                self._last = (now, cpu)
            return self._average


_own = OwnLoad()


def other_load() -> float | None:
    """Busy cores outside this process (load average minus this process's share), or None if unknown."""
    load = load_average()
    if load is None:
        return None
    return max(0.0, load - _own.sample())


class OtherCPU:
    """Busy cores outside this process *and its children*, from ``/proc/stat``, between successive samples.

    Unlike ``other_load`` (the load average less this process's CPU), it does not count this
    process's own threads waiting for a core, nor the subprocesses it runs (sandboxed
    evaluations), as other programs. Children count once they have ended and been waited for.
    """

    def __init__(self) -> None:
        self._last = self._now()

    @staticmethod
    def _now() -> tuple[tuple[float, float] | None, float, float]:
        own = os.times()
        return _cpu_times(), own.user + own.system + own.children_user + own.children_system, time.monotonic()

    def sample(self) -> float | None:
        """Busy cores outside this process tree since the last sample, or None where /proc/stat is missing."""
        (cpu0, own0, t0), (cpu1, own1, t1) = self._last, self._now()
        self._last = (cpu1, own1, t1)
        if cpu0 is None or cpu1 is None or cpu1[1] <= cpu0[1] or t1 <= t0:
            return None
        share = (cpu1[0] - cpu0[0]) / (cpu1[1] - cpu0[1])  # of all CPUs in the machine
        return max(0.0, share * max(1, os.cpu_count() or 1) - (own1 - own0) / (t1 - t0))


def _cpu_times() -> tuple[float, float] | None:
    """(busy, total) jiffies of all CPUs from /proc/stat, or None off Linux."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            fields = [float(x) for x in handle.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    if len(fields) < 4:
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user time
    return total - idle, total


def recent_other_load(window_s: float = 1.0) -> float | None:
    """Busy cores outside this process over the next ``window_s`` seconds (blocks that long), or None."""
    first = _cpu_times()
    if first is None:
        return None
    own = time.process_time()
    time.sleep(window_s)
    second = _cpu_times()
    own = time.process_time() - own
    if second is None or second[1] <= first[1]:
        return None
    share = (second[0] - first[0]) / (second[1] - first[1])  # of all CPUs in the machine
    machine_cores = max(1, os.cpu_count() or 1)
    return max(0.0, share * machine_cores - own / window_s)


def threads_for(cores: int, current: int | None, *, recent: float | None, steady: float | None) -> int:
    """The thread count to use: from the recent load at first, and a change only when both loads agree."""
    if current is None:
        return choose_threads(cores, recent if recent is not None else steady)
    by_recent = choose_threads(cores, recent, current=current)
    by_steady = choose_threads(cores, steady, current=current)
    if by_recent == by_steady:
        return by_recent
    return current


def choose_threads(cores: int, other: float | None, *, current: int | None = None, limit: int | None = None) -> int:
    """Threads for the model: the cores left free by ``other`` load, rounded, at least one.

    With ``current`` (the count in use) the boundaries get a margin of 0.2
    cores, so a load hovering at a boundary does not switch back and forth.
    ``limit`` caps the result (e.g. physical cores, or what the user allows).
    """
    top = max(1, min(cores, limit or cores))
    if other is None:
        return top
    free = cores - other
    wanted = int(math.floor(free + 0.5))
    if current is not None and wanted != current:
        boundary = current + 0.5 if wanted > current else current - 0.5
        if abs(free - boundary) < 0.2:
            wanted = current
    return max(1, min(top, wanted))
