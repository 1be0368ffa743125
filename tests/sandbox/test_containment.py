"""Hostile code must be contained: each test would fail if its protection were missing.

Limits are kept small so that a broken sandbox cannot hurt the machine running the tests.
"""

from __future__ import annotations

import os
import socket
import sys
import time

import pytest

from honing.sandbox import run_code

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the subprocess sandbox targets Linux")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return not any(line.startswith("State:") and "Z" in line.split()[1] for line in fh)
    except FileNotFoundError:
        return False


def _processes_of(uid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status") as fh:
                    lines = fh.read().splitlines()
            except OSError:
                continue
            fields = dict(line.split(":", 1) for line in lines if ":" in line)
            if fields.get("Uid", "").split()[:1] == [str(uid)] and "Z" not in fields.get("State", ""):
                found.append(int(entry))
    return found


def test_infinite_loop_is_killed_at_the_timeout():
    start = time.monotonic()
    r = run_code("while True:\n    pass\n", timeout=1.0)
    assert r.timed_out and r.killed and not r.ok
    assert r.signal == "SIGKILL" and "timed out" in r.error
    assert time.monotonic() - start < 3.0


def test_cpu_limit_stops_a_busy_loop_before_the_wall_clock():
    r = run_code("while True:\n    pass\n", timeout=20.0, cpu_seconds=1)
    assert not r.ok and not r.timed_out and r.killed
    assert r.signal in ("SIGXCPU", "SIGKILL")
    assert r.duration < 10


def test_memory_limit():
    r = run_code("def f():\n    x = bytearray(3 * 1024**3)\n    return len(x)\n", "f",
                 memory_mb=256, timeout=10)
    assert not r.ok
    assert "MemoryError" in r.error


def test_process_limit_contains_forking():
    code = (
        "import os, time\n"
        "def f():\n"
        "    pids = []\n"
        "    for _ in range(60):\n"
        "        try:\n"
        "            pid = os.fork()\n"
        "        except OSError:\n"
        "            break\n"
        "        if pid == 0:\n"
        "            time.sleep(60)\n"
        "            os._exit(0)\n"
        "        pids.append(pid)\n"
        "    return pids\n"
    )
    r = run_code(code, "f", max_processes=8, timeout=10)
    assert r.ok, r.error
    assert 0 < len(r.value) < 8
    time.sleep(0.1)
    assert not [pid for pid in r.value if _alive(pid)], "forked children outlived the call"


def test_fork_bomb_is_contained_and_cleaned_up():
    code = "import os, sys\nprint(os.getuid(), flush=True)\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    start = time.monotonic()
    r = run_code(code, max_processes=16, timeout=2.0, cpu_seconds=5)
    assert not r.ok and time.monotonic() - start < 8
    uid = int(r.stdout.split()[0])
    if os.geteuid() == 0:
        assert uid != 0, "code ran as root"
        time.sleep(0.2)
        assert _processes_of(uid) == []


def test_escaped_descendants_are_killed():
    code = (
        "import os, time\n"
        "def f():\n"
        "    r, w = os.pipe()\n"
        "    if os.fork() == 0:\n"
        "        os.setsid()\n"  # leave the process group
        "        if os.fork() == 0:\n"
        "            os.write(w, str(os.getpid()).encode()); time.sleep(60)\n"
        "        os._exit(0)\n"
        "    return int(os.read(r, 32))\n"
    )
    r = run_code(code, "f", timeout=10)
    assert r.ok, r.error
    if os.geteuid() != 0:
        pytest.skip("escaped sessions are only swept when running as root (per-call uid)")
    time.sleep(0.1)
    assert not _alive(r.value)


def test_huge_stdout_is_capped():
    code = "import sys\nchunk = 'x' * (1 << 20)\nfor _ in range(1024):\n    sys.stdout.write(chunk)\n"
    r = run_code(code, timeout=30, max_output_bytes=1 << 16)
    assert r.output_truncated
    assert len(r.stdout) < (1 << 16) + 200
    assert "truncated" in r.stdout


def test_files_outside_the_sandbox_are_untouched(tmp_path):
    keep = tmp_path / "keep.txt"
    keep.write_text("precious")
    new = tmp_path / "new.txt"
    code = (
        "import os\n"
        "def f(keep, new):\n"
        "    errors = []\n"
        "    for action in (lambda: os.remove(keep), lambda: open(keep, 'w').write('x'),\n"
        "                   lambda: open(new, 'w').write('x')):\n"
        "        try:\n"
        "            action()\n"
        "        except OSError as exc:\n"
        "            errors.append(type(exc).__name__)\n"
        "    open('scratch.txt', 'w').write('fine')\n"
        "    return [errors, os.getcwd()]\n"
    )
    r = run_code(code, "f", (str(keep), str(new)), timeout=10)
    assert r.ok, r.error
    assert keep.read_text() == "precious"
    assert not new.exists()
    assert len(r.value[0]) == 3
    assert not os.path.exists(r.value[1]), "temporary working directory was not removed"


def test_file_size_limit():
    code = "def f():\n    with open('big.bin', 'wb') as fh:\n        fh.write(b'0' * (8 << 20))\n"
    r = run_code(code, "f", file_size_mb=1, timeout=10)
    assert not r.ok and "File too large" in r.error


def test_parent_secrets_are_not_visible(monkeypatch, tmp_path):
    monkeypatch.setenv("HONING_TEST_SECRET", "hunter2-secret")
    # A credentials file only its owner may read, in a directory anyone may traverse.
    public = tmp_path / "public"
    public.mkdir()
    public.chmod(0o755)
    tmp_path.chmod(0o755)
    secret_file = public / "credentials"
    secret_file.write_text("hunter2-file")
    secret_file.chmod(0o600)
    code = (
        "import os\n"
        "def f(path):\n"
        "    seen = [os.environ.get('HONING_TEST_SECRET'), os.environ.get('EXTRA')]\n"
        "    try:\n"
        "        seen.append(open(path).read())\n"
        "    except OSError as exc:\n"
        "        seen.append(type(exc).__name__)\n"
        "    return seen\n"
    )
    r = run_code(code, "f", (str(secret_file),), env={"EXTRA": "given"}, timeout=10)
    assert r.ok, r.error
    assert r.value[0] is None and r.value[1] == "given"
    if os.geteuid() == 0:  # otherwise the code runs as the file's owner
        assert r.value[2] == "PermissionError"


@pytest.fixture
def listener():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield server.getsockname()[1]
    server.close()


CONNECT = (
    "import socket\n"
    "def f(port):\n"
    "    try:\n"
    "        socket.create_connection(('127.0.0.1', port), timeout=2).close()\n"
    "        return 'connected'\n"
    "    except OSError as exc:\n"
    "        return type(exc).__name__\n"
)


def test_network_is_cut(listener):
    r = run_code(CONNECT, "f", (listener,), timeout=10)
    assert r.ok, r.error
    if not r.network_isolated:
        assert r.value == "connected"
        pytest.skip("this OS/user cannot create a network namespace; network_isolated is False")
    assert r.value != "connected"


def test_network_when_allowed(listener):
    r = run_code(CONNECT, "f", (listener,), network=True, timeout=10)
    assert r.ok and r.value == "connected"
    assert not r.network_isolated


def test_network_isolation_works_as_root():
    if os.geteuid() != 0:
        pytest.skip("only guaranteed for root on Linux")
    assert run_code("pass", timeout=10).network_isolated


def test_hostile_pickle_is_refused(tmp_path):
    marker = "/tmp/honing-sandbox-pwned-marker"
    code = (
        "import os\n"
        "class Evil:\n"
        "    def __reduce__(self):\n"
        f"        return (os.system, ('touch {marker}',))\n"
        "def f():\n"
        "    return Evil()\n"
    )
    r = run_code(code, "f", timeout=10)
    assert not r.ok and "cannot be transferred" in r.error
    assert not os.path.exists(marker)
