"""An ordinary user gets a working sandbox too, through a user namespace, with weaker limits.

Run for real: the sandbox package is copied to a world-readable directory and driven by the
system Python as ``nobody`` (``setpriv``), since the test interpreter may live where other
users cannot read it. Skipped where that is not possible (not root, no ``setpriv``, no
system Python 3.10+).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import textwrap
from pathlib import Path

import pytest

import honing.sandbox
from tests.sandbox._helpers import AS_ROOT, linux_only


def _system_python() -> str | None:
    """A Python 3.10+ that other users can run (the test interpreter may sit under /root)."""
    for path in ("/usr/bin/python3", "/usr/local/bin/python3"):
        try:
            out = subprocess.run([path, "-c", "import sys; print(sys.version_info >= (3, 10))"],
                                 capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.SubprocessError):
            continue
        if out.stdout.strip() == "True":
            return path
    return None


SYSTEM_PYTHON = _system_python() if AS_ROOT else None

pytestmark = [
    linux_only,
    pytest.mark.skipif(not AS_ROOT, reason="needs root to become another user"),
    pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)"),
    pytest.mark.skipif(SYSTEM_PYTHON is None, reason="needs a system Python other users can run"),
]

DRIVER = textwrap.dedent("""
    import json, os, sys, time
    sys.path.insert(0, sys.argv[1])
    from honing.sandbox import run_code
    from honing.sandbox._options import Options
    from honing.sandbox._subprocess import run_subprocess

    shared = sys.argv[2]
    escape = (
        "import os, time\\n"
        "def f():\\n"
        "    if os.fork() == 0:\\n"
        "        os.setsid()\\n"
        "        while True:\\n"
        "            open('beat', 'a').write('x')\\n"
        "            time.sleep(0.02)\\n"
        "    time.sleep(0.3)\\n"
        "    return [os.getuid(), sorted(os.listdir('/')), os.path.exists(sys_dir)]\\n"
    ).replace("sys_dir", repr(os.path.join(sys.argv[1], "honing")))
    full = run_code(escape, "f", cwd=shared, timeout=20)
    size = os.path.getsize(os.path.join(shared, "beat"))
    time.sleep(0.6)
    grown = os.path.getsize(os.path.join(shared, "beat")) - size
    keyring = run_code("import ctypes\\ndef f():\\n    l = ctypes.CDLL(None, use_errno=True)\\n"
                       "    return [l.syscall(250, 0, 0xFFFFFFFD), ctypes.get_errno()]\\n", "f", timeout=20)
    options = Options(timeout=20, memory_mb=512, cpu_seconds=None, max_processes=16, file_size_mb=8,
                      max_output_bytes=1 << 16, max_result_bytes=1 << 20, network=False, scratch_mb=64,
                      refuse=frozenset({"user"}))
    bare = run_subprocess("import os\\ndef f():\\n    return os.getuid()\\n", "f", (), {}, options)
    print(json.dumps({
        "full": [full.ok, full.error, full.value, sorted(map(str, full.enforced)), list(full.notes)],
        "grown": grown,
        "keyring": [keyring.ok, keyring.value],
        "bare": [bare.ok, bare.error, bare.value, sorted(map(str, bare.enforced)), list(bare.notes)],
    }))
""")


@pytest.fixture(scope="module")
def report():
    work = Path(tempfile.mkdtemp(prefix="honing-unpriv-"))
    try:
        work.chmod(0o755)
        package = work / "honing"
        package.mkdir()
        (package / "__init__.py").write_text("")
        shutil.copytree(Path(honing.sandbox.__file__).parent, package / "sandbox",
                        ignore=shutil.ignore_patterns("__pycache__"))
        shared = work / "shared"
        shared.mkdir()
        shared.chmod(0o777)
        (work / "driver.py").write_text(DRIVER)
        for path in work.rglob("*"):
            path.chmod(0o777 if path == shared else (0o755 if path.is_dir() else 0o644))
        out = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", SYSTEM_PYTHON, "-I",
             str(work / "driver.py"), str(work), str(shared)],
            capture_output=True, text=True, timeout=120, cwd="/")
        if out.returncode != 0 and "No module named" in out.stderr:
            pytest.skip(f"the system Python cannot run the sandbox: {out.stderr[-300:]}")
        assert out.returncode == 0, out.stderr[-2000:]
        yield json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_a_user_gets_namespaces_through_a_user_namespace(report):
    ok, error, value, enforced, notes = report["full"]
    if "user_namespace" not in enforced:
        pytest.skip(f"unprivileged user namespaces are disabled here: {notes}")
    assert ok, error
    uid, root, package_visible = value
    assert uid == 65534
    assert {"user_namespace", "pid_namespace", "filesystem", "network_namespace", "seccomp"} <= set(enforced)
    assert "work" not in root and not package_visible


def test_a_users_leftovers_die_with_the_call(report):
    if "pid_namespace" not in report["full"][3]:
        pytest.skip("no PID namespace for this user here")
    assert report["grown"] == 0


def test_a_user_gets_the_seccomp_filter(report):
    assert report["keyring"] == [True, [-1, 1]]


def test_missing_cgroups_are_explained_to_a_user(report):
    _, _, _, enforced, notes = report["full"]
    if "memory_cgroup" not in enforced:
        assert any("cgroup" in n for n in notes)


def test_without_user_namespaces_a_user_still_runs_code_and_is_told(report):
    ok, error, uid, enforced, notes = report["bare"]
    assert ok and uid == 65534, error
    assert "pid_namespace" not in enforced and "filesystem" not in enforced
    assert any("namespaces refused by the kernel" in n for n in notes)
