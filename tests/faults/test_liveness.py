"""Who may write a run: an OS lock that dies with its holder, a heartbeat where locks do not reach, and takeover."""

from __future__ import annotations

import logging
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import honing as hn
from honing.store import SQLiteStore, StoreInUseError
from honing.store._liveness import WriterLock, writer_alive
from tests.helpers import CountingEvaluator, growing_lm
from tests.store._helpers import candidate, header

ROOT = Path(__file__).resolve().parents[2]


def _stored_run(tmp_path) -> Path:
    store = SQLiteStore.for_run_dir(tmp_path / "run")
    store.open(header(), {})
    store.add_candidate(candidate(0))
    store.close()
    return tmp_path / "run"


def _holder(run_dir: Path):
    """A real process that opens the run and keeps writing it until killed."""
    code = ("import time\nfrom honing.store import SQLiteStore\nfrom tests.store._helpers import header\n"
            f"s = SQLiteStore.for_run_dir({str(run_dir)!r}); s.open(header(), {{}}); print('open', flush=True)\n"
            "time.sleep(120)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout.readline().strip() == "open"
    return proc


def _pretend_open_session(run_dir: Path, *, pid: int, host: str, heartbeat_age_s: float) -> None:
    """Leave a session row that looks unclosed, as a crashed writer leaves it."""
    db = sqlite3.connect(run_dir / "honing.db")
    now = time.time()
    db.execute("INSERT INTO sessions (opened_at, pid, host, data, heartbeat_at) VALUES (?, ?, ?, '{}', ?)",
               (now - 3600, pid, host, now - heartbeat_age_s))
    db.commit()
    db.close()


def test_a_live_writer_is_refused_and_its_death_frees_the_run(tmp_path):
    run_dir = _stored_run(tmp_path)
    proc = _holder(run_dir)
    try:
        assert writer_alive(run_dir / "honing.db") is True
        with pytest.raises(StoreInUseError, match=f"pid {proc.pid}.*takeover=True"):
            SQLiteStore.for_run_dir(run_dir).open(header(), {})
    finally:
        proc.kill()
        proc.communicate()  # waits, and closes the stdout pipe
    assert writer_alive(run_dir / "honing.db") is False
    store = SQLiteStore.for_run_dir(run_dir)
    assert [c.id for c in store.open(header(), {}).candidates] == [0]
    store.close()


def test_a_dead_session_whose_pid_now_belongs_to_a_live_process_is_resumed(tmp_path):
    """The PID-reuse case: pid 1 (init) is alive, on this host, with a fresh-looking heartbeat; the lock says dead."""
    run_dir = _stored_run(tmp_path)
    _pretend_open_session(run_dir, pid=1, host=socket.gethostname(), heartbeat_age_s=1.0)
    store = SQLiteStore.for_run_dir(run_dir)
    assert len(store.open(header(), {}).sessions) == 3
    store.close()


def test_a_fresh_session_on_another_host_is_refused_unless_taken_over(tmp_path, caplog):
    run_dir = _stored_run(tmp_path)
    _pretend_open_session(run_dir, pid=4242, host="other-machine", heartbeat_age_s=5.0)
    with pytest.raises(StoreInUseError, match="pid 4242 on other-machine"):
        SQLiteStore.for_run_dir(run_dir).open(header(), {})
    store = SQLiteStore.for_run_dir(run_dir)
    store.open(header(), {}, takeover=True)
    store.close()


def test_a_silent_session_on_another_host_counts_as_dead(tmp_path):
    run_dir = _stored_run(tmp_path)
    _pretend_open_session(run_dir, pid=4242, host="other-machine", heartbeat_age_s=3600.0)
    store = SQLiteStore.for_run_dir(run_dir)
    store.open(header(), {})
    store.close()


def test_without_file_locks_the_heartbeat_decides(tmp_path, monkeypatch):
    run_dir = _stored_run(tmp_path)
    monkeypatch.setattr(WriterLock, "acquire", lambda self: "unsupported")
    _pretend_open_session(run_dir, pid=4242, host=socket.gethostname(), heartbeat_age_s=2.0)
    with pytest.raises(StoreInUseError, match="heartbeat"):
        SQLiteStore.for_run_dir(run_dir).open(header(), {})
    db = sqlite3.connect(run_dir / "honing.db")
    db.execute("UPDATE sessions SET heartbeat_at = heartbeat_at - 3600")
    db.commit()
    store = SQLiteStore.for_run_dir(run_dir)
    store.open(header(), {})
    store.close()


def test_takeover_opens_a_run_whose_lock_is_held(tmp_path, caplog):
    run_dir = _stored_run(tmp_path)
    proc = _holder(run_dir)
    try:
        store = SQLiteStore.for_run_dir(run_dir)
        with caplog.at_level(logging.WARNING, logger="honing.store"):
            store.open(header(), {}, takeover=True)
        store.close()
        assert "taking over" in caplog.text and f"pid {proc.pid}" in caplog.text
    finally:
        proc.kill()
        proc.communicate()  # waits, and closes the stdout pipe


def test_engine_config_takeover_reaches_the_store(tmp_path):
    run_dir = tmp_path / "run"

    def run(**engine):
        config = hn.Config(engine=hn.EngineConfig(max_metric_calls=20, run_dir=str(run_dir), **engine),
                           reflection=hn.ReflectionConfig(reflection_lm=growing_lm()))
        return hn.optimize_anything("@", evaluator=CountingEvaluator(), dataset=["a", "b"], objective="more @",
                                    config=config)

    run()
    code = ("import time, sys\nsys.path.insert(0, '.')\nfrom honing.store import SQLiteStore\n"
            f"s = SQLiteStore({str(run_dir / 'honing.db')!r}); s._writer_lock.acquire(); print('open', flush=True)\n"
            "time.sleep(120)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert proc.stdout.readline().strip() == "open"
        with pytest.raises(StoreInUseError):
            run()
        assert run(takeover=True).total_metric_calls == 20
    finally:
        proc.kill()
        proc.communicate()  # waits, and closes the stdout pipe


def test_the_heartbeat_advances_while_a_session_is_open(tmp_path):
    store = SQLiteStore.for_run_dir(tmp_path / "run", heartbeat_s=0.05)
    store.open(header(), {})
    db = sqlite3.connect(tmp_path / "run" / "honing.db")
    first = db.execute("SELECT heartbeat_at FROM sessions").fetchone()[0]
    deadline = time.monotonic() + 10
    while db.execute("SELECT heartbeat_at FROM sessions").fetchone()[0] == first:
        assert time.monotonic() < deadline, "the heartbeat never advanced"
        time.sleep(0.05)
    store.close()
    assert db.execute("SELECT closed_at FROM sessions").fetchone()[0] is not None


def test_honing_run_refuses_a_held_run_in_one_line_and_force_takes_it_over(tmp_path, caplog, monkeypatch):
    import threading

    monkeypatch.setattr(sys, "path", list(sys.path))  # `honing run` puts the evaluator's folder on sys.path

    from honing.cli import main
    from honing.llm._server import make_server
    from tests.conftest import ScriptedLM, fenced
    from tests.helpers import longest_run

    server = make_server({"grower": ScriptedLM(lambda prompt: fenced("@" * (longest_run(prompt) + 1)))}, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    (tmp_path / "scoring.py").write_text(
        "def evaluate(candidate, example):\n    return candidate.count('@') / 100, {}\n")
    (tmp_path / "seed.txt").write_text("@")
    (tmp_path / "train.json").write_text('[1, 2]')
    run_dir = tmp_path / "run"
    argv = ["run", str(tmp_path / "seed.txt"), "--evaluator", f"{tmp_path / 'scoring.py'}:evaluate",
            "--dataset", str(tmp_path / "train.json"), "--budget", "12", "--run-dir", str(run_dir),
            "--reflection-lm", f"http://{host}:{port}/v1#grower", "--objective", "more @"]
    try:
        assert main(argv) == 0
        code = ("import time, sys\nfrom honing.store import SQLiteStore\n"
                f"s = SQLiteStore({str(run_dir / 'honing.db')!r}); s._writer_lock.acquire(); "
                "print('open', flush=True)\n"
                "time.sleep(120)")
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT)
        try:
            assert proc.stdout.readline().strip() == "open"
            caplog.clear()
            assert main(argv) == 2
            errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
            assert len(errors) == 1 and "in use by another process" in errors[0].getMessage()
            assert errors[0].exc_info is None
            assert main(argv + ["--force"]) == 0
        finally:
            proc.kill()
            proc.communicate()  # waits, and closes the stdout pipe
    finally:
        server.shutdown()
        server.server_close()
