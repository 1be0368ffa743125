"""The code sees a minimal filesystem: nothing of the caller's unless listed, private scratch space."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import sys
import uuid
from pathlib import Path

import pytest

from honing.sandbox import Protection, run_code
from tests.sandbox._helpers import AS_ROOT, has, linux_only, root_only

pytestmark = linux_only

PROBE = (
    "import os\n"
    "def f(paths):\n"
    "    out = {}\n"
    "    for p in paths:\n"
    "        try:\n"
    "            with open(p, 'rb') as fh:\n"
    "                out[p] = fh.read(64).decode('utf-8', 'replace')\n"
    "        except OSError as exc:\n"
    "            out[p] = type(exc).__name__\n"
    "    return out\n"
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A caller's project: a script, a .env, a run store and a dataset, all world-readable."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "evaluate.py").write_text("print('caller script')\n")
    (root / ".env").write_text("OPENAI_API_KEY=sk-hidden\n")
    (root / "answers.json").write_text('{"hidden": "answers"}')
    db = sqlite3.connect(root / "honing.db")
    db.execute("create table t (x)")
    db.commit()
    db.close()
    for path in [tmp_path, root, *root.iterdir()]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return root


def test_the_callers_files_are_not_there(project):
    paths = [str(p) for p in project.iterdir()]
    r = run_code(PROBE, "f", (paths,), timeout=10)
    assert r.ok, r.error
    assert has(r, Protection.FILESYSTEM)
    assert set(r.value.values()) == {"FileNotFoundError"}, r.value


def test_the_callers_script_directory_and_sys_path_are_not_there():
    here = os.path.dirname(os.path.abspath(__file__))
    code = ("import os, sys\ndef f(dirs):\n"
            "    return [os.path.exists(d) for d in dirs] + [any('tests' in p for p in sys.path)]\n")
    dirs = [here, os.getcwd()]
    r = run_code(code, "f", (dirs,), timeout=10)
    assert r.ok, r.error
    assert not any(r.value), r.value


def test_the_projects_source_tree_is_not_there():
    import honing

    source = os.path.dirname(os.path.dirname(os.path.abspath(honing.__file__)))
    code = "import os\ndef f(p):\n    return os.path.exists(p)\n"
    r = run_code(code, "f", (os.path.join(source, "pyproject.toml"),), timeout=10)
    assert r.ok and r.value is False


def test_root_holds_only_the_minimal_view():
    r = run_code("import os\ndef f():\n    return sorted(os.listdir('/'))\n", "f", timeout=10)
    assert r.ok, r.error
    assert set(r.value) <= {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "root", "sandbox",
                            "sbin", "tmp", "usr", "var", "home", "opt", "work", "mnt", "srv"}
    assert "sys" not in r.value and "boot" not in r.value


@pytest.mark.parametrize("path", ["/etc/shadow", "/etc/hostname", "/root/.bash_history", "/etc/machine-id"])
def test_host_files_outside_the_view_are_absent_or_fake(path):
    r = run_code(PROBE, "f", ([path],), timeout=10)
    assert r.ok, r.error
    assert r.value[path] in ("FileNotFoundError", "sandbox\n")


def test_passwd_is_generated():
    r = run_code("import pwd, os\ndef f():\n    return pwd.getpwuid(os.getuid()).pw_name\n", "f", timeout=10)
    assert r.ok and r.value == "sandbox", r.error


@pytest.mark.parametrize("directory", ["/tmp", "/var/tmp", "/dev/shm", "/sandbox"])
def test_scratch_directories_are_private_and_do_not_persist(directory):
    name = f"honing-marker-{uuid.uuid4().hex}"
    write = f"def f():\n    open('{directory}/{name}', 'w').write('x')\n    return 1\n"
    read = f"import os\ndef f():\n    return os.path.exists('{directory}/{name}')\n"
    assert run_code(write, "f", timeout=10).ok
    assert not os.path.exists(f"{directory}/{name}"), "the write reached the host"
    r = run_code(read, "f", timeout=10)
    assert r.ok and r.value is False, "the next call saw it"


def test_scratch_space_is_size_limited():
    code = ("import errno\ndef f():\n    try:\n        with open('/dev/shm/big', 'wb') as fh:\n"
            "            for _ in range(64):\n                fh.write(b'0' * (1 << 20))\n"
            "    except OSError as exc:\n        return errno.errorcode[exc.errno]\n    return 'wrote 64 MiB'\n")
    r = run_code(code, "f", scratch_mb=16, file_size_mb=128, memory_mb=512, timeout=20)
    assert r.ok, r.error
    assert r.value == "ENOSPC"


def test_interpreter_is_read_only():
    code = ("import os\ndef f():\n    try:\n        open(os.__file__, 'a')\n"
            "    except OSError as exc:\n        return type(exc).__name__\n")
    r = run_code(code, "f", timeout=10)
    assert r.ok and r.value in ("PermissionError", "OSError"), r.value


def test_site_packages_are_importable():
    pytest.importorskip("numpy")
    r = run_code("import numpy\ndef f():\n    return int(numpy.arange(4).sum())\n", "f", timeout=30)
    assert r.ok and r.value == 6, r.error


def test_readable_shows_a_path_read_only(tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("shared data")
    for p in (tmp_path, data):
        p.chmod(0o755 if p.is_dir() else 0o644)
    code = ("def f(p):\n    text = open(p).read()\n    try:\n        open(p, 'a').write('x')\n"
            "    except OSError as exc:\n        return [text, type(exc).__name__]\n    return [text, 'written']\n")
    r = run_code(code, "f", (str(data),), readable=[data], timeout=10)
    assert r.ok, r.error
    assert r.value[0] == "shared data" and r.value[1] != "written"
    assert data.read_text() == "shared data"


@root_only
def test_readable_path_the_code_cannot_read_gets_a_note(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("x")
    secret.chmod(0o600)
    r = run_code(PROBE, "f", ([str(secret)],), readable=[secret], timeout=10)
    assert r.ok and r.value[str(secret)] == "PermissionError"
    assert any("not readable by other users" in n for n in r.notes)


def test_files_are_copied_into_the_work_directory():
    code = ("import os\ndef f():\n    data = open('input/data.csv').read()\n"
            "    open('input/data.csv', 'a').write('more')\n"
            "    return [os.getcwd(), data, open('raw.bin', 'rb').read()]\n")
    r = run_code(code, "f", files={"input/data.csv": "a,b\n", "raw.bin": b"\x00\x01"}, timeout=10)
    assert r.ok, r.error
    assert r.value == ["/sandbox", "a,b\n", b"\x00\x01"]


@pytest.mark.parametrize("name", ["../escape", "/abs", "a/../../b", "", "./x"])
def test_bad_file_names_are_refused(name):
    with pytest.raises((ValueError, TypeError)):
        run_code("pass", files={name: "x"})


def test_cwd_is_shown_read_write(shared_dir):
    r = run_code("import os\ndef f():\n    open('made.txt', 'w').write('hi')\n    return os.getcwd()\n", "f",
                 cwd=shared_dir, timeout=10)
    assert r.ok, r.error
    assert r.value == str(shared_dir.resolve())
    assert (shared_dir / "made.txt").read_text() == "hi"


def test_links_cannot_reach_host_files(shared_dir, project):
    target = project / "answers.json"
    os.symlink(target, shared_dir / "link")
    code = ("import os\ndef f(target):\n    out = []\n"
            "    for action in (lambda: open('link').read(), lambda: os.link(target, 'hard'),\n"
            "                   lambda: os.symlink(target, 'mine') or open('mine').read()):\n"
            "        try:\n            out.append(str(action()))\n"
            "        except OSError as exc:\n            out.append(type(exc).__name__)\n    return out\n")
    r = run_code(code, "f", (str(target),), cwd=shared_dir, timeout=10)
    assert r.ok, r.error
    assert "hidden" not in " ".join(r.value), r.value


def test_proc_shows_no_host_process():
    caller = os.getpid()
    code = ("import os\ndef f(pid):\n    try:\n        return open(f'/proc/{pid}/cmdline', 'rb').read()\n"
            "    except OSError as exc:\n        return type(exc).__name__\n")
    r = run_code(code, "f", (caller,), timeout=10)
    assert r.ok, r.error
    assert r.value == "FileNotFoundError" or b"pytest" not in r.value


def test_proc_root_of_the_monitor_is_the_sandbox():
    code = ("import os\ndef f():\n    try:\n        return sorted(os.listdir('/proc/1/root'))\n"
            "    except OSError as exc:\n        return type(exc).__name__\n")
    r = run_code(code, "f", timeout=10)
    assert r.ok, r.error
    assert r.value == "PermissionError" or "boot" not in r.value


def test_host_unix_socket_files_are_unreachable(tmp_path):
    path = tmp_path / "service.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen(1)
    os.chmod(path, 0o777)
    tmp_path.chmod(0o755)
    try:
        code = ("import socket\ndef f(p):\n    s = socket.socket(socket.AF_UNIX)\n    try:\n"
                "        s.connect(p)\n        return 'connected'\n    except OSError as exc:\n"
                "        return type(exc).__name__\n")
        r = run_code(code, "f", (str(path),), timeout=10)
        assert r.ok and r.value != "connected", r.value
    finally:
        server.close()


def test_host_abstract_unix_sockets_are_unreachable():
    name = f"\0honing-test-{uuid.uuid4().hex}"
    server = socket.socket(socket.AF_UNIX)
    server.bind(name)
    server.listen(1)
    try:
        code = ("import socket\ndef f(p):\n    s = socket.socket(socket.AF_UNIX)\n    try:\n"
                "        s.connect(p)\n        return 'connected'\n    except OSError as exc:\n"
                "        return type(exc).__name__\n")
        r = run_code(code, "f", (name,), timeout=10)
        assert r.ok and r.value != "connected", r.value
    finally:
        server.close()


def test_mounting_is_refused():
    code = ("import ctypes, os\ndef f():\n    libc = ctypes.CDLL(None, use_errno=True)\n"
            "    r = libc.mount(b'tmpfs', b'/tmp', b'tmpfs', 0, None)\n    return [r, ctypes.get_errno()]\n")
    r = run_code(code, "f", timeout=10)
    assert r.ok and r.value[0] == -1, r.value


def test_devices_must_be_device_files(tmp_path):
    with pytest.raises(ValueError):
        run_code("pass", devices=[tmp_path])
    with pytest.raises(TypeError):
        run_code("pass", readable="/etc")  # one path, not a list


def test_devices_shows_a_device():
    r = run_code("def f():\n    return open('/dev/full', 'rb').read(2)\n", "f", devices=["/dev/full"], timeout=10)
    assert r.ok and r.value == b"\0\0", r.error


@pytest.mark.skipif(not AS_ROOT, reason="as a user the code runs with the user's own permissions")
def test_without_a_mount_namespace_the_throwaway_uid_still_guards_files(tmp_path):
    from tests.sandbox._helpers import degraded

    secret = tmp_path / "credentials"
    secret.write_text("hunter2")
    secret.chmod(0o600)
    r = degraded(PROBE, "f", ([str(secret)],), refuse={"mount"})
    if r.ok:
        assert r.value[str(secret)] == "PermissionError"
    else:  # the interpreter itself is not readable by other users here: refused, clearly
        assert "not readable by other users" in r.error


def test_a_venv_under_tmp_works():
    """The interpreter's prefix may sit under /tmp, which the sandbox replaces with its own."""
    import subprocess
    import tempfile

    base = tempfile.mkdtemp(prefix="honing-venv-", dir="/tmp")
    try:
        os.chmod(base, 0o755)
        venv = os.path.join(base, "v")
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", venv],
                       check=True, timeout=120)
        script = ("import json\nfrom honing.sandbox import run_code\n"
                  "r = run_code('import os, sys\\ndef f():\\n    return [sys.prefix, "
                  "os.path.exists(sys.prefix + \\'/pyvenv.cfg\\')]\\n', 'f', timeout=30)\n"
                  "print(json.dumps([r.ok, r.error, r.value]))\n")
        # --system-site-packages sees the base interpreter's packages, not those of a venv the tests run in
        import honing

        root = os.path.dirname(os.path.dirname(os.path.abspath(honing.__file__)))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        out = subprocess.run([os.path.join(venv, "bin", "python"), "-c", script], capture_output=True, text=True,
                             timeout=120, check=False, env=env)
        assert out.returncode == 0, out.stderr[-2000:]
        ok, error, value = json.loads(out.stdout.strip().splitlines()[-1])
        assert ok, error
        assert value == [venv, True]
    finally:
        import shutil

        shutil.rmtree(base, ignore_errors=True)
