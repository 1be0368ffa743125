"""An evaluator for worker processes (it must be importable there): one pair never returns.

The worker writes its pid to ``<PID_DIR>/stuck.pid`` before it blocks, so a test can check
that the process was ended.
"""

from __future__ import annotations

import os
import time

import honing as hn


def stuck_on_two_at_b(candidate: str, example: str):
    hn.log(f"started {example} in pid {os.getpid()}")
    if candidate.count("@") == 2 and example == "b":
        with open(os.path.join(os.environ["HONING_TEST_PID_DIR"], "stuck.pid"), "w") as f:
            f.write(str(os.getpid()))
        time.sleep(3600)
    return min(candidate.count("@"), 10) / 10, {"count": candidate.count("@")}


def worker_pid() -> int:
    """For warming up workers."""
    return os.getpid()
