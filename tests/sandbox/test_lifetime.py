"""Nothing a call starts outlives it.

Leftovers prove they are alive by appending to a heartbeat file in a host directory
given as ``cwd``; each test checks that the file stops growing once ``run_code`` returned.
The degraded paths (no PID namespace: cgroup kill, then the uid sweep) are tested too.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from honing.sandbox import Protection, run_code
from honing.sandbox._sweep import processes_of
from tests.sandbox._helpers import (
    AS_ROOT,
    degraded,
    has,
    heartbeat_stops,
    linux_only,
    root_only,
)

pytestmark = linux_only

BEAT = textwrap.dedent("""
    import os, time
    def beat(seconds=30):
        end = time.time() + seconds
        while time.time() < end:
            with open("beat", "a") as fh:
                fh.write("x")
            time.sleep(0.02)
""")

SETSID_GRANDCHILD = BEAT + textwrap.dedent("""
    def f():
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                beat()
            os._exit(0)
        time.sleep(0.3)
        return "returned"
""")

# The main thread of a session leader exits with pthread_exit while another thread runs:
# the process shows as a zombie (state Z) and a naive scan skips it.
ZOMBIE_LEADER = BEAT + textwrap.dedent("""
    import ctypes, threading
    def f():
        if os.fork() == 0:
            os.setsid()
            threading.Thread(target=beat).start()
            time.sleep(0.05)
            ctypes.CDLL(None).pthread_exit(None)
        time.sleep(0.3)
        return "returned"
""")

# Each process forks its successor and exits at once: the chain never stands still.
FORK_CHAIN = BEAT + textwrap.dedent("""
    def f():
        if os.fork() == 0:
            os.setsid()
            while True:
                with open("beat", "a") as fh:
                    fh.write("x")
                try:
                    if os.fork():
                        os._exit(0)
                except OSError:
                    time.sleep(0.001)
        time.sleep(0.3)
        return "returned"
""")

ESCAPES = [SETSID_GRANDCHILD, ZOMBIE_LEADER, FORK_CHAIN]
ESCAPE_IDS = ["setsid-grandchild", "zombie-leader-with-live-thread", "fork-chain"]


@pytest.mark.parametrize("code", ESCAPES, ids=ESCAPE_IDS)
def test_escapes_die_with_the_call(code, shared_dir):
    r = run_code(code, "f", cwd=shared_dir, timeout=10, max_processes=32)
    assert r.ok and r.value == "returned", r.error
    assert (shared_dir / "beat").exists(), "the leftover never ran"
    assert heartbeat_stops(shared_dir / "beat"), "a process outlived the call"
    assert has(r, Protection.PID_NAMESPACE)


@pytest.mark.parametrize("code", ESCAPES, ids=ESCAPE_IDS)
def test_escapes_die_at_the_timeout(code, shared_dir):
    hang = code.replace('return "returned"', 'time.sleep(60)')
    start = time.monotonic()
    r = run_code(hang, "f", cwd=shared_dir, timeout=1.0, max_processes=32)
    assert r.timed_out and not r.ok and time.monotonic() - start < 5
    assert heartbeat_stops(shared_dir / "beat")


@root_only
@pytest.mark.parametrize("code", ESCAPES, ids=ESCAPE_IDS)
def test_without_pid_namespace_the_cgroup_kills_escapes(code, shared_dir):
    r = degraded(code, "f", refuse={"pid"}, cwd=str(shared_dir))
    assert r.ok, r.error
    assert not has(r, Protection.PID_NAMESPACE) and has(r, Protection.PROCESS_SWEEP)
    assert heartbeat_stops(shared_dir / "beat")


@root_only
@pytest.mark.parametrize("code", ESCAPES, ids=ESCAPE_IDS)
def test_without_pid_namespace_or_cgroups_the_uid_sweep_kills_escapes(code, shared_dir):
    r = degraded(code, "f", refuse={"pid", "cgroups"}, cwd=str(shared_dir))
    assert r.ok, r.error
    assert "cgroups not used (refused for a test)" in r.notes
    assert heartbeat_stops(shared_dir / "beat")


def test_the_code_is_not_pid_1_and_sees_only_its_own_processes():
    code = ("import os\ndef f():\n"
            "    return [os.getpid(), sorted(int(p) for p in os.listdir('/proc') if p.isdigit())]\n")
    r = run_code(code, "f", timeout=10)
    assert r.ok, r.error
    pid, visible = r.value
    assert pid != 1 and 1 in visible and len(visible) <= 3  # monitor, worker (and nothing of the host)
    assert os.getpid() not in visible or os.getpid() <= 3


@pytest.mark.parametrize("sig", ["SIGKILL", "SIGTERM", "SIGINT", "SIGSTOP"])
def test_signals_to_the_monitor_change_nothing(sig):
    code = f"import os, signal\ndef f():\n    os.kill(1, signal.{sig})\n    return 'still here'\n"
    r = run_code(code, "f", timeout=10)
    assert r.ok and r.value == "still here", r.error


def test_non_daemon_threads_do_not_hold_the_call_open():
    code = ("import threading, time\ndef f():\n"
            "    threading.Thread(target=time.sleep, args=(60,)).start()\n    return 1\n")
    start = time.monotonic()
    r = run_code(code, "f", timeout=20)
    assert r.ok and r.value == 1 and time.monotonic() - start < 5


@root_only
def test_uid_scan_counts_a_zombie_leader_whose_threads_run():
    """The scan the fallback uses, on a real process of a throwaway uid."""
    uid = 1_999_999_123
    script = textwrap.dedent(f"""
        import ctypes, os, threading, time
        os.setresgid({uid}, {uid}, {uid})
        os.setresuid({uid}, {uid}, {uid})
        threading.Thread(target=time.sleep, args=(30,)).start()
        time.sleep(0.05)
        ctypes.CDLL(None).pthread_exit(None)
    """)
    proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", script], cwd="/")
    try:
        deadline = time.monotonic() + 10
        state = ""
        while time.monotonic() < deadline and state != "Z":
            time.sleep(0.02)
            with open(f"/proc/{proc.pid}/status") as fh:
                state = next(line.split()[1] for line in fh if line.startswith("State:"))
        assert state == "Z", "the leader did not become a zombie"
        assert processes_of(uid) == [proc.pid]
    finally:
        proc.kill()
        proc.wait()
    assert processes_of(uid) == []


def test_many_calls_leave_no_processes_behind():
    code = ("import os, time\ndef f():\n    for _ in range(3):\n        if os.fork() == 0:\n"
            "            time.sleep(60)\n    return os.getuid()\n")
    uids = []
    for _ in range(5):
        r = run_code(code, "f", timeout=10)
        assert r.ok, r.error
        uids.append(r.value)
    time.sleep(0.1)
    # multiprocessing's resource tracker (started by any earlier process-executor test) lives as long as
    # this process does by design; it is not a runner.
    left = [pid for pid in _children_of(os.getpid()) if not _is_resource_tracker(pid)]
    assert not left, "a runner was not reaped"
    if AS_ROOT:
        assert len(set(uids)) == 5, "each call gets its own uid"
        assert not [uid for uid in uids if processes_of(uid)]


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return found


def _is_resource_tracker(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return b"multiprocessing.resource_tracker" in fh.read()
    except OSError:
        return False


def _census() -> tuple[int, int, int, int]:
    tmp = tempfile.gettempdir()
    return (len(os.listdir("/proc/self/fd")), threading.active_count(), len(_children_of(os.getpid())),
            sum(n.startswith(f"honing-sbx-{os.getpid()}-") for n in os.listdir(tmp)))


def test_concurrent_calls_leak_no_descriptors_threads_processes_or_directories():
    code = "import os, time\ndef f(i):\n    if os.fork() == 0:\n        time.sleep(30)\n    return i\n"
    before = _census()
    with ThreadPoolExecutor(24) as pool:
        results = list(pool.map(lambda i: run_code(code, "f", (i,), timeout=60), range(24)))
    assert [r.value for r in results] == list(range(24)), [r.error for r in results if not r.ok]
    time.sleep(0.2)
    assert _census() == before
