"""Limits that hold for the whole call (cgroup) and per process (rlimits)."""

from __future__ import annotations

import time

import pytest

from honing.sandbox import Protection, run_code
from tests.sandbox._helpers import AS_ROOT, degraded, has, linux_only

pytestmark = linux_only


def _needs(protection: Protection) -> None:
    probe = run_code("pass", timeout=10, cpu_seconds=5)
    if protection not in probe.enforced:
        pytest.skip(f"{protection} is not available here: {probe.notes}")


def test_memfd_memory_counts_against_the_call():
    _needs(Protection.MEMORY_CGROUP)
    code = ("import os\ndef f():\n    fd = os.memfd_create('x')\n    chunk = b'0' * (1 << 20)\n"
            "    for _ in range(400):\n        os.write(fd, chunk)\n    return 'wrote 400 MiB'\n")
    r = run_code(code, "f", memory_mb=128, file_size_mb=1024, timeout=30)
    assert not r.ok and r.value is None
    assert "out of memory" in r.error or "MemoryError" in r.error or "No space" in r.error, r.error


def test_tmpfs_memory_counts_against_the_call():
    _needs(Protection.MEMORY_CGROUP)
    code = ("def f():\n    chunk = b'0' * (1 << 20)\n    with open('/dev/shm/fill', 'wb') as fh:\n"
            "        for _ in range(400):\n            fh.write(chunk)\n    return 'wrote 400 MiB'\n")
    r = run_code(code, "f", memory_mb=128, scratch_mb=1024, file_size_mb=1024, timeout=30)
    assert not r.ok, r.value
    assert "out of memory" in r.error or "No space" in r.error or "MemoryError" in r.error, r.error


def test_children_share_one_memory_budget():
    _needs(Protection.MEMORY_CGROUP)
    code = ("import os, time\ndef f():\n    kids = []\n    for _ in range(6):\n        pid = os.fork()\n"
            "        if pid == 0:\n            try:\n                data = bytearray(100 << 20)\n"
            "                for i in range(0, len(data), 4096):\n                    data[i] = 1\n"
            "                time.sleep(2)\n            finally:\n                os._exit(0)\n"
            "        kids.append(pid)\n    ok = 0\n    for pid in kids:\n"
            "        _, status = os.waitpid(pid, 0)\n        ok += status == 0\n    return ok\n")
    r = run_code(code, "f", memory_mb=256, timeout=30)
    assert not r.ok or r.value < 6, "six children of 100 MB fit in 256 MB"


def test_cpu_seconds_counts_every_process():
    _needs(Protection.CPU_CGROUP)
    code = ("import os\ndef f():\n    for _ in range(3):\n        if os.fork() == 0:\n            while True:\n"
            "                pass\n    while True:\n        pass\n")
    start = time.monotonic()
    r = run_code(code, "f", cpu_seconds=1, timeout=30)
    assert not r.ok and r.killed and not r.timed_out
    assert "CPU time limit exceeded" in r.error
    assert time.monotonic() - start < 10
    assert has(r, Protection.CPU_CGROUP)


def test_process_count_is_per_call():
    code = ("import os, threading, time\ndef f():\n    made = 0\n    for _ in range(100):\n        try:\n"
            "            threading.Thread(target=time.sleep, args=(5,), daemon=True).start()\n"
            "        except RuntimeError:\n            break\n        made += 1\n    return made\n")
    r = run_code(code, "f", max_processes=10, timeout=20)
    assert r.ok, r.error
    assert r.value < 10
    if has(r, Protection.PIDS_CGROUP):
        assert any("process limit was reached" in n for n in r.notes)


def test_enforced_limits_are_reported():
    r = run_code("pass", timeout=10)
    assert r.ok
    assert {Protection.WALL_CLOCK, Protection.MEMORY_RLIMIT, Protection.CPU_RLIMIT,
            Protection.FILE_SIZE_RLIMIT} <= r.enforced
    assert "wall_clock" in r.enforced  # plain strings work too
    if AS_ROOT:
        expected = {Protection.PID_NAMESPACE, Protection.FILESYSTEM, Protection.SECCOMP, Protection.PRIVATE_UID}
        assert expected <= r.enforced
    if not (r.enforced >= {Protection.MEMORY_CGROUP, Protection.PIDS_CGROUP}):
        assert any("cgroup" in n for n in r.notes), "a missing cgroup limit must be explained"


def test_cpu_cgroup_is_only_claimed_when_a_cpu_limit_was_asked_for():
    assert Protection.CPU_CGROUP not in run_code("pass", timeout=10).enforced


def test_without_cgroups_the_result_says_so():
    r = degraded("pass", refuse={"cgroups"})
    assert r.ok, r.error
    assert not r.enforced & {Protection.MEMORY_CGROUP, Protection.PIDS_CGROUP, Protection.CPU_CGROUP}
    assert "cgroups not used (refused for a test)" in r.notes


def test_memory_limit_gives_a_memory_error():
    r = run_code("def f():\n    x = bytearray(3 * 1024**3)\n    return len(x)\n", "f", memory_mb=256, timeout=10)
    assert not r.ok
    assert "MemoryError" in r.error


def test_cpu_limit_stops_a_busy_loop_before_the_wall_clock():
    r = run_code("while True:\n    pass\n", timeout=20.0, cpu_seconds=1)
    assert not r.ok and not r.timed_out and r.killed
    assert r.duration < 10


def test_file_size_limit():
    code = "def f():\n    with open('big.bin', 'wb') as fh:\n        fh.write(b'0' * (8 << 20))\n"
    r = run_code(code, "f", file_size_mb=1, timeout=10)
    assert not r.ok and "File too large" in r.error


def test_fork_bomb_is_contained():
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    start = time.monotonic()
    r = run_code(code, max_processes=16, timeout=2.0, cpu_seconds=5)
    assert not r.ok and time.monotonic() - start < 8


def test_infinite_loop_is_killed_at_the_timeout():
    start = time.monotonic()
    r = run_code("while True:\n    pass\n", timeout=1.0)
    assert r.timed_out and r.killed and not r.ok
    assert r.signal == "SIGKILL" and "timed out" in r.error
    assert time.monotonic() - start < 3.0


def test_huge_stdout_is_capped():
    code = "import sys\nchunk = 'x' * (1 << 20)\nfor _ in range(256):\n    sys.stdout.write(chunk)\n"
    r = run_code(code, timeout=30, max_output_bytes=1 << 16)
    assert r.output_truncated
    assert len(r.stdout) < (1 << 16) + 200
    assert "truncated" in r.stdout
