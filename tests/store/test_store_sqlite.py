"""SQLiteStore specifics: exact round trips, blobs stored once, clear errors, readers beside a writer."""

from __future__ import annotations

import dataclasses
import math
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from honing.store import (
    MemoryStore,
    RunReader,
    SQLiteStore,
    StoreError,
    StoreMismatchError,
    default_run_dir,
    open_store,
)
from honing.store._schema import SCHEMA_VERSION
from tests.store._helpers import candidate, evaluation, header, proposal


def _open(tmp_path, name="run") -> SQLiteStore:
    store = SQLiteStore.for_run_dir(tmp_path / name)
    store.open(header(), {"config": {}})
    return store


def _reopened(store: SQLiteStore):
    store.close()
    return SQLiteStore(store.path).open(header(), {})


class Unpicklable:
    def __reduce__(self):
        raise TypeError("no")

    def __repr__(self):
        return "<Unpicklable>"


def test_exotic_values_round_trip_exactly(tmp_path):
    store = _open(tmp_path)
    side_info = {
        "tuple": (1, (2.5, "x")), "int_keys": {1: "a", (2, 3): "b"}, "bytes": b"\x00\x01",
        "big_bytes": bytes(range(256)) * 20, "set": {1, 2}, "nan": math.nan, "inf": -math.inf,
        "nested": [{"__honing__": "not a tag"}], "unicode": "héllo \u2603", "none": None, "bool": True,
    }
    record = evaluation(0, "k", 0.25, side_info=side_info, output=("out", [1, 2]),
                        objective_scores={"speed": 0.5, "size": 1.0}, duration_s=0.125, error="boom")
    store.add_candidate(candidate(0))
    store.add_evaluation(record)
    store.add_evaluation(evaluation(0, "nan-score", math.nan))
    run = _reopened(store)
    back = run.evaluations[0]
    nan_free = {k: v for k, v in side_info.items() if k != "nan"}
    assert {k: v for k, v in back.side_info.items() if k != "nan"} == nan_free
    assert math.isnan(back.side_info["nan"])
    assert type(back.side_info["tuple"][1]) is tuple
    assert back == dataclasses.replace(record, side_info=back.side_info)
    assert math.isnan(run.evaluations[1].score)


def test_a_value_that_cannot_be_pickled_is_kept_as_its_repr(tmp_path):
    store = _open(tmp_path)
    store.add_evaluation(evaluation(0, "k", side_info={"obj": Unpicklable()}))
    run = _reopened(store)
    assert run.evaluations[0].side_info["obj"] == "<Unpicklable>"


def test_pickled_values_are_not_unpickled_by_viewers(tmp_path):
    store = _open(tmp_path)
    store.add_candidate(candidate(0))
    store.add_evaluation(evaluation(0, "k", side_info={"when": Path("/x")}))
    assert _reopened(store).evaluations[0].side_info["when"] == Path("/x")
    with RunReader(tmp_path / "run") as reader:
        shown = reader.evaluation_details(0)[0].side_info["when"]
    assert isinstance(shown, str) and "Path" in shown


def test_images_round_trip_as_images(tmp_path):
    from honing._image import Image

    pil = pytest.importorskip("PIL.Image")
    img = Image(pil.new("RGB", (8, 8), (200, 30, 30)))
    store = _open(tmp_path)
    store.add_evaluation(evaluation(0, "k", side_info={"render": img, "both": [img, img]}))
    back = _reopened(store).evaluations[0].side_info
    assert type(back["render"]) is Image
    assert back == {"render": img, "both": [img, img]}
    db = sqlite3.connect(store.path)
    assert db.execute("SELECT count(*) FROM blobs WHERE kind='image'").fetchone()[0] == 1
    with RunReader(tmp_path / "run") as reader:  # viewers get images too (no unpickling needed)
        assert reader.evaluation_details(0)[0].side_info["render"] == img


def test_a_repeated_big_trace_is_stored_once(tmp_path):
    store = _open(tmp_path)
    trace = "".join(f"step {i}: something happened\n" for i in range(4000))
    assert len(trace) > 100_000
    db = sqlite3.connect(store.path)

    def blobs():
        return db.execute("SELECT count(*), coalesce(sum(size), 0) FROM blobs").fetchone()

    before = blobs()
    store.add_evaluation(evaluation(0, "a", 0.1, side_info={"trace": trace, "score": 1}))
    store.add_evaluation(evaluation(1, "b", 0.7, side_info={"trace": trace, "score": 2}, output=trace))
    store.flush()  # evaluations are committed in the background within moments
    after = blobs()
    assert after[0] - before[0] == 1
    assert after[1] - before[1] == len(trace)
    run = _reopened(store)
    assert [e.side_info["trace"] for e in run.evaluations] == [trace, trace]
    assert run.evaluations[1].output == trace


def test_a_different_run_is_refused_with_a_clear_message(tmp_path):
    store = _open(tmp_path)
    store.close()
    with pytest.raises(StoreMismatchError, match="objective differs"):
        SQLiteStore.for_run_dir(tmp_path / "run").open(header("fp-2", objective="less @"), {})


def test_a_file_that_is_not_sqlite_is_refused(tmp_path):
    path = tmp_path / "honing.db"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(StoreError, match="not a SQLite database") as info:
        SQLiteStore(path)
    assert str(path) in str(info.value) and "new directory" in str(info.value)


def test_a_foreign_sqlite_file_is_refused(tmp_path):
    path = tmp_path / "honing.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE users (name TEXT)")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="not a honing run store.*users"):
        SQLiteStore(path)


def test_a_newer_schema_is_refused(tmp_path):
    store = _open(tmp_path)
    store.close()
    db = sqlite3.connect(store.path)
    db.execute("UPDATE honing_meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer honing"):
        SQLiteStore(store.path)
    with pytest.raises(StoreError, match="newer honing"):
        RunReader(store.path)


def test_a_damaged_database_gives_a_store_error(tmp_path):
    store = _open(tmp_path)
    for i in range(50):
        store.add_evaluation(evaluation(0, f"k{i}", side_info={"pad": "x" * 900}))
    store.close()
    data = bytearray(store.path.read_bytes())
    data[100:len(data)] = os.urandom(len(data) - 100)  # keep the magic, wreck every page
    store.path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=str(store.path)):
        SQLiteStore(store.path).open(header(), {})


def test_readers_see_consistent_growing_snapshots_while_a_thread_writes(tmp_path):
    store = _open(tmp_path)
    total = 400
    done = threading.Event()
    problems: list[str] = []

    def write() -> None:
        for i in range(total):
            store.add_candidate(candidate(i, "@" * (i + 1), parents=(i - 1,) if i else (), origin="seed" if not i
                                          else "reflection", proposal_id=i - 1 if i else None))
            store.start_evaluations([(i, "k")])
            store.add_evaluation(evaluation(i, "k", i / total))
            if i:
                store.add_proposal(proposal(i - 1, child=i))
        store.flush()  # the last records were queued (committed within moments); readers check the end state
        done.set()

    def read() -> None:
        reader = RunReader(tmp_path / "run")
        last = 0
        while True:
            finished = done.is_set()
            reader.refresh()
            n = reader.evaluation_count()
            if n < last:
                problems.append("evaluations went backwards")
            if any(reader.coverage(c) and c not in reader.candidates for c in range(total)):
                problems.append("an evaluation of an unknown candidate")
            last = n
            if finished:
                break
        if last != total:
            problems.append(f"reader ended with {last} evaluations")
        reader.close()

    writer = threading.Thread(target=write)
    readers = [threading.Thread(target=read) for _ in range(3)]
    for t in readers + [writer]:
        t.start()
    for t in readers + [writer]:
        t.join(timeout=60)
    assert problems == []


def test_a_reader_works_after_the_writer_closed(tmp_path):
    store = _open(tmp_path)
    store.add_candidate(candidate(0))
    store.add_evaluation(evaluation(0, "k", 0.75))
    store.close()
    with RunReader(tmp_path / "run") as reader:
        assert reader.best_id() == 0 and reader.val_mean(0) == 0.75


def test_a_second_live_writer_process_is_refused(tmp_path):
    run_dir = tmp_path / "run"
    _open(tmp_path).close()
    code = ("import sys, time\nfrom honing.store import SQLiteStore\nfrom tests.store._helpers import header\n"
            f"s = SQLiteStore.for_run_dir({str(run_dir)!r}); s.open(header(), {{}}); print('open', flush=True); "
            "time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2])
    try:
        assert proc.stdout.readline().strip() == "open"
        with pytest.raises(StoreError, match=f"pid {proc.pid}"):
            SQLiteStore.for_run_dir(run_dir).open(header(), {})
    finally:
        proc.kill()
        proc.communicate()  # waits, and closes the stdout pipe
    SQLiteStore.for_run_dir(run_dir).open(header(), {})  # a killed writer does not block a resume


def test_open_store_understands_paths_and_urls(tmp_path):
    assert isinstance(open_store("memory"), MemoryStore)
    by_dir = open_store(str(tmp_path / "a"))
    assert by_dir.path == tmp_path / "a" / "honing.db" and by_dir.run_dir == str(tmp_path / "a")
    by_file = open_store(str(tmp_path / "b" / "x.db"))
    assert by_file.path == tmp_path / "b" / "x.db"
    by_url = open_store(f"sqlite:///{tmp_path}/c.sqlite")
    assert by_url.path == tmp_path / "c.sqlite"
    with pytest.raises(StoreError, match="unsupported store URL"):
        open_store("postgres://x")


def test_default_run_dir_is_fresh_and_under_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first, second = default_run_dir(), default_run_dir()
    assert first != second
    assert Path(first).parent == tmp_path / "honing-runs"
    assert not Path(first).exists()
    store = SQLiteStore.for_run_dir(first)
    assert Path(store.run_dir).is_dir()


def test_write_cost_is_small(tmp_path):
    store = _open(tmp_path)
    started = time.perf_counter()
    for i in range(200):
        store.start_evaluations([(0, f"k{i}")])
        store.add_evaluation(evaluation(0, f"k{i}", side_info={"trace": "x" * 2000}))
    per_eval = (time.perf_counter() - started) / 200
    assert per_eval < 0.01, f"{per_eval * 1000:.2f} ms per evaluation"


def test_a_version_1_store_is_read_as_it_is_and_upgraded_by_a_writer(tmp_path):
    store = _open(tmp_path)
    store.add_candidate(candidate(0))
    store.add_evaluation(evaluation(0, "k", 0.75))
    store.add_proposal(proposal(0, child=None, accepted=False))
    store.close()
    db = sqlite3.connect(store.path)  # the layout version 1 wrote: no heartbeat column
    db.execute("ALTER TABLE sessions DROP COLUMN heartbeat_at")
    db.execute("UPDATE honing_meta SET value='1' WHERE key='schema_version'")
    db.commit()
    with RunReader(store.path) as reader:
        assert reader.val_mean(0) == 0.75 and reader.sessions[0]["heartbeat_at"] is None
    assert db.execute("SELECT value FROM honing_meta WHERE key='schema_version'").fetchone() == ("1",)
    run = SQLiteStore(store.path).open(header(), {"n": 2})
    assert [e.score for e in run.evaluations] == [0.75] and run.proposals[0].prompt == proposal(0).prompt
    assert db.execute("SELECT value FROM honing_meta WHERE key='schema_version'").fetchone() == (str(SCHEMA_VERSION),)
    assert [row[1] for row in db.execute("PRAGMA table_info(sessions)")][-1] == "heartbeat_at"


def _statements_while(monkeypatch, make):
    """The SQL a store runs on its connection while ``make()`` creates or opens it."""
    from honing.store import _schema

    seen: list[str] = []
    real_open = _schema._open

    def traced(path, readonly):
        conn = real_open(path, readonly)
        conn.set_trace_callback(seen.append)
        return conn

    monkeypatch.setattr(_schema, "_open", traced)
    store = make()
    return store, seen


@pytest.mark.parametrize("synchronous", ["NORMAL", "FULL"])
def test_a_new_store_is_created_unsynced_only_where_its_level_syncs_at_checkpoints(tmp_path, monkeypatch, synchronous):
    # Issue 12: the 8 fsyncs of creating a store were most of a small run's store cost. Under NORMAL the WAL is
    # synced only at checkpoints, which sync the created file too; under FULL the creation stays synced.
    store, seen = _statements_while(monkeypatch, lambda: SQLiteStore(tmp_path / "honing.db", synchronous=synchronous))
    assert ("PRAGMA synchronous=OFF" in seen) == (synchronous == "NORMAL")
    assert seen.index("PRAGMA journal_mode=WAL") < seen.index("PRAGMA synchronous=" + synchronous)
    level = {"NORMAL": 1, "FULL": 2}[synchronous]
    store.open(header(), {})
    store.add_candidate(candidate(0))
    assert store._conn is not None and store._conn.execute("PRAGMA synchronous").fetchone()[0] == level
    store.close()
    reopened, seen = _statements_while(monkeypatch, lambda: SQLiteStore(tmp_path / "honing.db"))
    assert "PRAGMA synchronous=OFF" not in seen  # an existing store is never written unsynced
    assert [c.id for c in reopened.open(header(), {}).candidates] == [0]
    reopened.close()
