"""Damaged, empty, truncated, foreign, read-only and full stores: a clear error, and never a write into them."""

from __future__ import annotations

import hashlib
import os
import sqlite3

import pytest

import honing as hn
from honing.cli import main
from honing.store import (
    RunReader,
    SQLiteStore,
    StoreDamagedError,
    StoreError,
    StoreFullError,
)
from tests.faults._mounts import run_with_mounts
from tests.helpers import CountingEvaluator, growing_lm
from tests.store._helpers import candidate, evaluation, header


def _stored_run(tmp_path, n=300):
    run_dir = tmp_path / "run"
    store = SQLiteStore.for_run_dir(run_dir)
    store.open(header(), {})
    store.add_candidate(candidate(0))
    for i in range(n):
        store.start_evaluations([(0, f"k{i}")])
        store.add_evaluation(evaluation(0, f"k{i}", i / n, side_info={"pad": os.urandom(450).hex()}))
    store.close()
    return run_dir


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _garbage_in_the_middle(db):
    data = bytearray(db.read_bytes())
    middle = len(data) // 2 // 4096 * 4096
    data[middle:middle + 8192] = os.urandom(8192)
    db.write_bytes(bytes(data))


def _cli(capsys, *argv) -> tuple[int, str]:
    code = main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_garbage_mid_file_is_refused_and_never_written(tmp_path, capsys):
    run_dir = _stored_run(tmp_path)
    db = run_dir / "honing.db"
    _garbage_in_the_middle(db)
    before = _digest(db)
    with pytest.raises(StoreDamagedError, match="damaged.*nothing was written.*recover"):
        SQLiteStore.for_run_dir(run_dir).open(header(), {})
    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=10, run_dir=str(run_dir)),
                       reflection=hn.ReflectionConfig(reflection_lm=growing_lm()))
    with pytest.raises(StoreError):
        hn.optimize_anything("@", evaluator=CountingEvaluator(), dataset=["a"], objective="more @", config=config)
    assert _digest(db) == before
    code, err = _cli(capsys, "show", str(run_dir))
    assert code == 2 and "damaged" in err
    code, err = _cli(capsys, "report", str(run_dir), "-o", str(tmp_path / "r.html"))
    assert code == 2 and "damaged" in err


def test_a_truncated_file_is_refused(tmp_path, capsys):
    run_dir = _stored_run(tmp_path)
    db = run_dir / "honing.db"
    db.write_bytes(db.read_bytes()[: db.stat().st_size // 3])
    before = _digest(db)
    with pytest.raises(StoreDamagedError):
        SQLiteStore.for_run_dir(run_dir).open(header(), {})
    assert _digest(db) == before
    code, err = _cli(capsys, "show", str(run_dir))
    assert code == 2 and "honing: " in err


def test_an_empty_file_is_explained_to_viewers_and_starts_a_new_run_for_writers(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "honing.db").write_bytes(b"")
    code, err = _cli(capsys, "show", str(run_dir))
    assert code == 2 and "empty (0 bytes)" in err
    code, err = _cli(capsys, "report", str(run_dir), "-o", str(tmp_path / "r.html"))
    assert code == 2 and "empty" in err
    code, err = _cli(capsys, "dashboard", str(run_dir), "--port", "0")
    assert code == 2 and "empty" in err
    store = SQLiteStore.for_run_dir(run_dir)
    assert store.open(header(), {}).is_new
    store.close()


def test_a_store_with_no_tables_is_empty_for_viewers(tmp_path):
    db = tmp_path / "honing.db"
    sqlite3.connect(db).execute("PRAGMA user_version=1").close()  # a valid SQLite file with nothing in it
    with pytest.raises(StoreDamagedError, match="no tables"):
        RunReader(db)


def test_page_one_damage_is_reported_not_traced(tmp_path, capsys):
    run_dir = _stored_run(tmp_path, n=20)
    db = run_dir / "honing.db"
    data = bytearray(db.read_bytes())
    data[100:4096] = os.urandom(3996)  # keep the magic, wreck the schema page
    db.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=str(db)):
        SQLiteStore(db)
    code, err = _cli(capsys, "show", str(run_dir))
    assert code == 2 and str(db) in err


def test_a_full_database_raises_store_full_error_and_keeps_what_was_stored(tmp_path):
    """SQLite's own size limit gives the same SQLITE_FULL as a full disk, without needing a mount."""
    store = SQLiteStore.for_run_dir(tmp_path / "run")
    store.open(header(), {})
    store.add_candidate(candidate(0))
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count={pages + 20}")
    stored = 0
    with pytest.raises(StoreFullError, match="full.*Free some space and resume"):
        for i in range(10_000):
            store.start_evaluations([(0, f"k{i}")])
            store.add_evaluation(evaluation(0, f"k{i}", side_info={"pad": os.urandom(2000).hex()}))
            stored += 1
    assert 0 < stored < 10_000
    store.close()
    resumed = SQLiteStore.for_run_dir(tmp_path / "run")
    run = resumed.open(header(), {})
    # The evaluation queued when the disk filled may not have been committed (evaluations are committed in the
    # background); its start row is, so a resumed run scores it again. Everything before it is kept.
    assert len(run.evaluations) in (stored - 1, stored)
    assert [e.example_key for e in run.evaluations] == [f"k{i}" for i in range(len(run.evaluations))]
    assert run.started[0] == (0, f"k{len(run.evaluations)}")
    resumed.close()


@pytest.mark.limit_s(120)
def test_a_real_full_disk(tmp_path):
    out = run_with_mounts(f'''
        from honing.store import SQLiteStore, StoreFullError
        from tests.store._helpers import candidate, evaluation, header
        disk = {str(tmp_path / "disk")!r}
        mount_tmpfs(disk, "1m")
        store = SQLiteStore.for_run_dir(disk + "/run")
        store.open(header(), {{}})
        store.add_candidate(candidate(0))
        stored = 0
        try:
            for i in range(10_000):
                store.start_evaluations([(0, f"k{{i}}")])
                store.add_evaluation(evaluation(0, f"k{{i}}", side_info={{"pad": os.urandom(3000).hex()}}))
                stored += 1
        except StoreFullError as exc:
            print("full after", stored, "|", str(exc).split(";")[0])
        store.close()
        remount(disk, "size=64m")
        resumed = SQLiteStore.for_run_dir(disk + "/run")
        run = resumed.open(header(), {{}})
        print("resumed with", len(run.evaluations))
        resumed.add_evaluation(evaluation(0, "after", side_info={{"pad": "x"}}))
        resumed.close()
        import sqlite3
        print("integrity", sqlite3.connect(disk + "/run/honing.db").execute("PRAGMA integrity_check").fetchone()[0])
    ''')
    full = int(out.split("full after ")[1].split()[0])
    assert 0 < full < 10_000 and "disk holding the run store" in out
    # the evaluation queued when the disk filled may be the one not committed (see the test above)
    resumed = int(out.split("resumed with ")[1].split()[0])
    assert resumed in (full - 1, full) and "integrity ok" in out


@pytest.mark.limit_s(120)
def test_a_read_only_mount_is_viewable_and_refused_for_writing(tmp_path):
    report = tmp_path / "report.html"
    out = run_with_mounts(f'''
        import json, urllib.request
        import honing as hn
        from honing.store import RunReader, SQLiteStore, StoreReadOnlyError
        from honing.ui import Dashboard, build_report, render_show
        from tests.helpers import CountingEvaluator, growing_lm
        disk = {str(tmp_path / "disk")!r}
        mount_tmpfs(disk, "16m")
        config = hn.Config(engine=hn.EngineConfig(max_metric_calls=20, run_dir=disk + "/run"),
                           reflection=hn.ReflectionConfig(reflection_lm=growing_lm()))
        hn.optimize_anything("@", evaluator=CountingEvaluator(), dataset=["a", "b"], objective="more @", config=config)
        print("files", sorted(os.listdir(disk + "/run")))
        remount(disk, "ro")
        with RunReader(disk + "/run") as reader:
            print("show:", [line for line in render_show(reader).splitlines() if "best candidate" in line][0])
        build_report(disk + "/run", {str(report)!r})
        dash = Dashboard(disk + "/run", port=0).start()
        data = json.load(urllib.request.urlopen(dash.url + "api/overview", timeout=10))
        print("dashboard calls", data["run"]["metric_calls"])
        dash.close()
        for attempt in (lambda: SQLiteStore.for_run_dir(disk + "/run"),
                        lambda: hn.optimize_anything("@", evaluator=CountingEvaluator(), dataset=["a", "b"],
                                                     objective="more @", config=config)):
            try:
                attempt()
            except StoreReadOnlyError as exc:
                print("refused:", str(exc)[:60])
    ''')
    assert "show: best candidate: #" in out
    assert "dashboard calls 20" in out
    assert out.count("refused: the run store") == 2
    assert report.stat().st_size > 1000


def test_a_record_that_cannot_be_decoded_stops_the_resume_before_any_record_is_written(tmp_path):
    """Damage quick_check cannot see (one row's JSON broken) is reported as damage when the replay reaches it."""
    run_dir = tmp_path / "run"

    def config(budget: int) -> hn.Config:
        return hn.Config(engine=hn.EngineConfig(max_metric_calls=budget, run_dir=str(run_dir)),
                         reflection=hn.ReflectionConfig(reflection_lm=growing_lm()))

    hn.optimize_anything("@", evaluator=CountingEvaluator(), dataset=["a", "b"], objective="more @", config=config(8))
    db = run_dir / "honing.db"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE evaluations SET side_info = '{broken' WHERE seq = (SELECT max(seq) FROM evaluations)")

    def records() -> list:
        with sqlite3.connect(db) as conn:
            return [conn.execute(f"SELECT * FROM {table} ORDER BY seq").fetchall()
                    for table in ("candidates", "evaluations", "proposals", "started", "admissions")]

    before = records()
    evaluator = CountingEvaluator()
    with pytest.raises(StoreDamagedError, match="cannot be read back.*no record was changed or added"):
        hn.optimize_anything("@", evaluator=evaluator, dataset=["a", "b"], objective="more @", config=config(40))
    assert evaluator.calls == [] and records() == before


def test_recalling_a_damaged_candidate_is_reported_as_damage_not_a_decoding_crash(tmp_path):
    run_dir = _stored_run(tmp_path, n=3)
    with sqlite3.connect(run_dir / "honing.db") as conn:
        conn.execute("UPDATE evaluations SET side_info = '{broken' WHERE seq = 1")
    store = SQLiteStore.for_run_dir(run_dir)
    store.open(header(), {})
    try:
        with pytest.raises(StoreDamagedError, match="cannot be read back.*records stored before are kept"):
            store.recall(0)
    finally:
        store.close()
