"""Environment, host files and network: each test would fail if its protection were missing.

Limits are kept small so that a broken sandbox cannot hurt the machine running the tests.
The other attack classes have their own files: lifetime, filesystem, limits, seccomp, forgery.
"""

from __future__ import annotations

import os
import socket
import sys

import pytest

from honing.sandbox import run_code

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the subprocess sandbox targets Linux")


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
    assert r.value[1] == "/sandbox"


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
    assert r.value[2] == "FileNotFoundError", "a host path not listed in readable= was visible"


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


def test_environment_is_scrubbed_and_home_is_private():
    code = "import os\ndef f():\n    return dict(os.environ)\n"
    r = run_code(code, "f", env={"MINE": "1"}, timeout=10)
    assert r.ok, r.error
    assert r.value["MINE"] == "1" and r.value["HOME"] == "/sandbox" and r.value["TMPDIR"] == "/tmp"
    assert not [k for k in r.value if "KEY" in k or "TOKEN" in k or k.startswith("PYTEST")]


def test_dns_and_outside_addresses_fail_without_network():
    code = ("import socket\ndef f():\n    out = []\n    for target in (('example.com', 80), ('1.1.1.1', 53)):\n"
            "        try:\n            socket.create_connection(target, timeout=2).close()\n"
            "            out.append('connected')\n"
            "        except OSError as exc:\n            out.append(type(exc).__name__)\n    return out\n")
    r = run_code(code, "f", timeout=15)
    assert r.ok, r.error
    if r.network_isolated:
        assert "connected" not in r.value


def test_loopback_inside_works_without_network():
    code = ("import socket\ndef f():\n    s = socket.socket()\n    s.bind(('127.0.0.1', 0))\n    s.listen(1)\n"
            "    c = socket.create_connection(s.getsockname(), timeout=2)\n    a, _ = s.accept()\n    c.send(b'hi')\n"
            "    return a.recv(2)\n")
    r = run_code(code, "f", timeout=10)
    assert r.ok and r.value == b"hi", r.error

