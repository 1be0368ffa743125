"""A run killed mid-write leaves a small write-ahead log, and everything it committed."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from honing.store import SQLiteStore
from honing.store._sqlite import WAL_LIMIT_BYTES
from tests.store._helpers import header

ROOT = Path(__file__).resolve().parents[2]

WRITER = """
import os, sys, time
from honing.store import SQLiteStore
from tests.store._helpers import candidate, evaluation, header
store = SQLiteStore.for_run_dir(sys.argv[1])
store.open(header(), {})
store.add_candidate(candidate(0))
started, i = time.monotonic(), 0
while time.monotonic() - started < 4:  # as fast as it can: ~20 MB of side info, where the old store left 41 MB of WAL
    store.start_evaluations([(0, f"k{i}")])
    store.add_evaluation(evaluation(0, f"k{i}", side_info={"pad": os.urandom(700).hex()}))
    i += 1
store.flush()  # evaluations are committed within moments; flush() commits the last ones now
print(i, flush=True)
time.sleep(60)
"""


@pytest.mark.limit_s(60)
def test_sigkill_during_a_write_storm_leaves_a_bounded_wal(tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(run_dir)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    written = int(proc.stdout.readline())
    proc.send_signal(signal.SIGKILL)
    proc.communicate()  # waits, and closes the stdout pipe
    wal = run_dir / "honing.db-wal"
    assert written > 1000
    assert wal.stat().st_size <= 2 * WAL_LIMIT_BYTES, f"{wal.stat().st_size} bytes of WAL after the kill"
    store = SQLiteStore.for_run_dir(run_dir)
    assert len(store.open(header(), {}).evaluations) == written
    store.close()
