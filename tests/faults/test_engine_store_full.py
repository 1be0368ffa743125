"""A full disk stops the run cleanly: the result so far is returned, and a resume after freeing space finishes.

Before, the first ``StoreFullError`` ended ``optimize_anything`` with the
exception: the results found so far were not returned.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter

import pytest

import honing as hn
from honing.store import RunReader, SQLiteStore
from tests.faults._mounts import run_with_mounts
from tests.helpers import growing_lm

BUDGET = 60


class TightStore(SQLiteStore):
    """A real SQLite store whose database may grow only ``spare_pages`` pages past its size at open.

    SQLite answers a write past ``max_page_count`` with SQLITE_FULL, exactly as it answers a full disk.
    """

    def __init__(self, *args, spare_pages: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.spare_pages = spare_pages

    def open(self, *args, **kwargs):
        stored = super().open(*args, **kwargs)
        pages = self._conn.execute("PRAGMA page_count").fetchone()[0]
        self._conn.execute(f"PRAGMA max_page_count={pages + self.spare_pages}")
        return stored


class NoisyEvaluator:
    """Scores by the number of '@'; every result carries 3 KB of incompressible side information."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.lock = threading.Lock()

    def __call__(self, candidate: str, example: str):
        with self.lock:
            self.calls[(candidate, example)] += 1
        return min(candidate.count("@"), 30) / 30, {"trace": os.urandom(1500).hex()}


def _config(store, **engine) -> hn.Config:
    return hn.Config(engine=hn.EngineConfig(max_metric_calls=BUDGET, max_workers=4, **engine),
                     reflection=hn.ReflectionConfig(reflection_lm=growing_lm()), store=store)


@pytest.mark.limit_s(60)
def test_a_full_store_stops_the_run_cleanly_and_a_resume_finishes_it(tmp_path, caplog):
    run_dir = tmp_path / "run"
    evaluator = NoisyEvaluator()
    with caplog.at_level(logging.ERROR, logger="honing"):
        result = hn.optimize_anything("@", evaluator, dataset=["a", "b", "c", "d"], objective="more @",
                                      config=_config(TightStore.for_run_dir(run_dir, spare_pages=25)))
    assert result.stop_reason == "store full"
    assert result.best_score is not None and result.best_score > 1 / 30  # what was found before is returned
    assert any("is full" in r.getMessage() and "Free some space" in r.getMessage() for r in caplog.records)
    with RunReader(run_dir) as reader:
        stored = reader.metric_calls
        cut_short = set(reader.pending)
        assert 0 < stored < BUDGET
        # Results queued for the background commit when the disk filled are in the Result but not stored
        # (their starts are): the resume scores them again, like evaluations cut short.
        assert stored <= result.total_metric_calls <= stored + len(cut_short)

    resumed = hn.optimize_anything("@", evaluator, dataset=["a", "b", "c", "d"], objective="more @",
                                   config=_config(None, run_dir=str(run_dir)))
    assert resumed.stop_reason == "budget exhausted" and resumed.total_metric_calls == BUDGET
    with RunReader(run_dir) as reader:
        assert reader.metric_calls == BUDGET and not reader.pending
        keys = {cid: reader.candidates[cid].components["candidate"] for cid in reader.candidates}
        retried = {(keys[cid], example) for cid, example in cut_short}
    repeats = {pair: n for pair, n in evaluator.calls.items() if n > 1}
    assert set(repeats) <= {(text, example) for text, example in evaluator.calls if any(
        text == t for t, _ in retried)}, repeats
    assert all(n == 2 for n in repeats.values())


@pytest.mark.limit_s(120)
def test_a_real_full_disk_mid_run(tmp_path):
    out = run_with_mounts(f'''
        import os, sqlite3
        import honing as hn
        from tests.helpers import growing_lm
        disk = {str(tmp_path / "disk")!r}
        mount_tmpfs(disk, "1m")
        def evaluate(candidate, example):
            return candidate.count("@") / 1000, {{"trace": os.urandom(3000).hex()}}
        def run():
            config = hn.Config(engine=hn.EngineConfig(max_metric_calls=200, max_workers=4, run_dir=disk + "/run"),
                               reflection=hn.ReflectionConfig(reflection_lm=growing_lm()))
            return hn.optimize_anything("@", evaluate, dataset=["a", "b", "c", "d"], objective="more @", config=config)
        first = run()
        print("first", first.stop_reason, first.total_metric_calls, first.best_score is not None)
        remount(disk, "size=64m")
        second = run()
        print("second", second.stop_reason, second.total_metric_calls)
        print("integrity", sqlite3.connect(disk + "/run/honing.db").execute("PRAGMA integrity_check").fetchone()[0])
    ''')
    first = out.split("first ")[1].split()
    assert first[0:2] == ["store", "full"] and 0 < int(first[2]) < 200 and first[3] == "True", out
    assert "second budget exhausted 200" in out and "integrity ok" in out, out
