"""The seccomp filter: dangerous system calls fail, ordinary programs keep working."""

from __future__ import annotations

import errno
import os
import re

import pytest

from honing.sandbox import Protection, _linux, _seccomp, run_code
from tests.sandbox._helpers import has, linux_only

pytestmark = [linux_only, pytest.mark.skipif(not _seccomp.supported(), reason="no filter for this architecture")]

# (name, arguments) for a raw syscall(2) from inside the sandbox; each must fail with EPERM.
DENIED_CALLS = [
    ("keyctl", (0, 0xFFFFFFFD)),  # KEYCTL_GET_KEYRING_ID of the session keyring
    ("add_key", (0, 0, 0, 0, 0)),
    ("request_key", (0, 0, 0, 0)),
    ("io_uring_setup", (8, 0)),
    ("unshare", (_linux.CLONE_NEWUSER,)),
    ("unshare", (_linux.CLONE_NEWNS,)),
    ("setns", (0, 0)),
    ("clone", (_linux.CLONE_NEWUSER | 17, 0, 0, 0, 0)),
    ("clone", (_linux.CLONE_NEWPID | 17, 0, 0, 0, 0)),
    ("ptrace", (0, 0, 0, 0)),  # PTRACE_TRACEME
    ("bpf", (0, 0, 0)),
    ("perf_event_open", (0, 0, -1, -1, 0)),
    ("userfaultfd", (0,)),
    ("process_vm_readv", (1, 0, 0, 0, 0, 0)),
    ("open_by_handle_at", (0, 0, 0)),
    ("mount", (0, 0, 0, 0, 0)),
    ("pivot_root", (0, 0)),
    ("fsopen", (0, 0)),
    ("init_module", (0, 0, 0)),
    ("kexec_load", (0, 0, 0, 0)),
    ("pidfd_getfd", (0, 0, 0)),
]

RAW = (
    "import ctypes\n"
    "def f(number, args):\n"
    "    libc = ctypes.CDLL(None, use_errno=True)\n"
    "    libc.syscall.restype = ctypes.c_long\n"
    "    r = libc.syscall(ctypes.c_long(number), *[ctypes.c_long(a) for a in args])\n"
    "    return [r, ctypes.get_errno()]\n"
)


@pytest.mark.parametrize("name, args", DENIED_CALLS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(DENIED_CALLS)])
def test_denied_system_calls_fail_with_eperm(name, args):
    r = run_code(RAW, "f", (_linux.SYSCALLS[name], list(args)), timeout=10)
    assert r.ok, r.error
    assert has(r, Protection.SECCOMP)
    assert r.value == [-1, errno.EPERM], f"{name} returned {r.value}"


def test_tiocsti_cannot_push_input_into_a_terminal():
    code = ("import fcntl\ndef f():\n"
            "    try:\n        fcntl.ioctl(0, 0x5412, b'x')\n    except OSError as exc:\n        return exc.errno\n")
    r = run_code(code, "f", timeout=10)
    assert r.ok and r.value == errno.EPERM, r.value


@pytest.mark.parametrize("family", [17, 38, 40])  # AF_PACKET, AF_ALG, AF_VSOCK
def test_unusual_socket_families_are_refused(family):
    code = ("import socket\ndef f(family):\n    try:\n        socket.socket(family, socket.SOCK_DGRAM).close()\n"
            "    except OSError as exc:\n        return exc.errno\n    return 'created'\n")
    r = run_code(code, "f", (family,), timeout=10)
    assert r.ok and r.value == errno.EAFNOSUPPORT, r.value


def test_clone3_reports_enosys_and_threads_and_subprocesses_still_work():
    code = (RAW + "import subprocess, threading\n"
            "def g(number):\n"
            "    raw = f(number, [0, 0])\n"
            "    box = []\n"
            "    t = threading.Thread(target=box.append, args=(1,))\n    t.start()\n    t.join()\n"
            "    out = subprocess.run(['/bin/echo', 'hi'], capture_output=True).stdout\n"
            "    return [raw, box, out]\n")
    r = run_code(code, "g", (_linux.SYSCALLS["clone3"],), timeout=20)
    assert r.ok, r.error
    assert r.value == [[-1, errno.ENOSYS], [1], b"hi\n"]


def test_the_callers_session_keyring_is_out_of_reach():
    code = RAW.replace("def f(", "def raw(") + (
        "def f(number):\n"
        "    return raw(number, [0, 0xFFFFFFFD, 1])\n")  # KEYCTL_GET_KEYRING_ID, session, create
    r = run_code(code, "f", (_linux.SYSCALLS["keyctl"],), timeout=10)
    assert r.ok, r.error
    assert r.value == [-1, errno.EPERM]
    assert has(r, Protection.SESSION_KEYRING)


def test_ordinary_programs_work_under_the_filter():
    code = ("import os, socket, subprocess, sys, tempfile, mmap, multiprocessing\n"
            "def f():\n"
            "    a, b = socket.socketpair()\n    a.send(b'ping')\n"
            "    with tempfile.TemporaryFile() as fh:\n        fh.write(b'x' * 4096)\n        fh.flush()\n"
            "        m = mmap.mmap(fh.fileno(), 4096)\n        first = m[:1]\n"
            "    out = subprocess.run([sys.executable, '-c', 'print(6 * 7)'], capture_output=True, text=True).stdout\n"
            "    with multiprocessing.Pool(2) as pool:\n        squares = pool.map(abs, [-1, -2])\n"
            "    return [b.recv(4), first, out.strip(), squares]\n")
    r = run_code(code, "f", timeout=30)
    assert r.ok, (r.error, r.stderr[-2000:])
    assert r.value == [b"ping", b"x", "42", [1, 2]]


@pytest.mark.skipif(not os.path.exists("/usr/include/asm-generic/unistd.h"), reason="kernel headers not installed")
def test_system_call_numbers_match_the_kernel_headers():
    headers = {"x86_64": "/usr/include/x86_64-linux-gnu/asm/unistd_64.h",
               "aarch64": "/usr/include/asm-generic/unistd.h"}
    path = headers.get(_linux.MACHINE)
    if path is None or not os.path.exists(path):
        pytest.skip(f"no header for {_linux.MACHINE}")
    with open(path) as fh:
        text = fh.read()
    found = dict(re.findall(r"#define __NR(?:3264)?_(\w+)\s+(\d+)", text))
    checked = 0
    for name, number in _linux.SYSCALLS.items():
        if name in found:
            assert int(found[name]) == number, name
            checked += 1
    assert checked >= 40


def test_program_checks_the_architecture_first():
    prog = _seccomp.build_program()
    assert len(prog) % 8 == 0 and len(prog) // 8 < 4096
    import struct

    code, _, _, k = struct.unpack("=HBBI", prog[:8])
    assert (code, k) == (0x20, 4)  # load seccomp_data.arch
    code, _, _, k = struct.unpack("=HBBI", prog[8:16])
    assert k == _linux.AUDIT_ARCH


def test_unknown_architecture_is_reported_not_guessed(monkeypatch):
    monkeypatch.setattr(_linux, "AUDIT_ARCH", None)
    assert not _seccomp.supported()
    with pytest.raises(OSError):
        _seccomp.build_program()
