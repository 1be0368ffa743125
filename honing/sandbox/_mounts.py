"""Child side: enter fresh namespaces and build the minimal filesystem the code sees.

The new root is an empty tmpfs holding only: the system directories (``/usr`` and the
``/bin``, ``/lib*`` links), the interpreter's prefixes and site-packages (read-only
binds), a few ``/etc`` files the C library and Python read, a generated
``/etc/passwd``, a private ``/dev`` (null, zero, full, random, urandom, tty), a fresh
``/proc`` of the call's own PID namespace, and one size-limited tmpfs that backs the
writable work directory ``/sandbox``, ``/tmp``, ``/var/tmp`` and ``/dev/shm``. Paths the
caller lists are bound read-only (``readable``) or read-write (``cwd``). Nothing else of
the caller's exists inside; in particular not its script directory, its run store or its
dataset files. ``/`` is made private first, so no mount leaks back to the host.

Stdlib only: the child imports this file as a top-level module (the caller and tests
import it from the package).
"""

from __future__ import annotations

import os

try:  # inside the package (the caller, tests) or as top-level modules (the child)
    from . import _linux
except ImportError:
    import _linux  # type: ignore[import-not-found, no-redef]

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs the child ~5 ms to import
    from typing import Any

    from ._linux import Linux

MNT_DETACH = _linux.MNT_DETACH
MS_BIND = _linux.MS_BIND
MS_NODEV = _linux.MS_NODEV
MS_NOEXEC = _linux.MS_NOEXEC
MS_NOSUID = _linux.MS_NOSUID
MS_PRIVATE = _linux.MS_PRIVATE
MS_RDONLY = _linux.MS_RDONLY
MS_REC = _linux.MS_REC
MS_REMOUNT = _linux.MS_REMOUNT

WORKDIR = "/sandbox"
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
DEV_LINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
             ("stderr", "/proc/self/fd/2"))
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = (
    "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "timezone",
    "nsswitch.conf", "host.conf", "hosts", "gai.conf", "protocols", "services", "mime.types",
    "ssl", "ca-certificates", "ca-certificates.conf", "pki", "crypto-policies", "fonts", "os-release",
)


def enter_namespaces(linux: Linux, flags: int) -> int:
    """``unshare(flags)``; when that is refused, the largest subset the kernel grants.

    Returns the flags obtained. Tries the full set, then without the user namespace
    (root does not need it), then the network namespace alone (the old minimum).
    """
    tried: list[int] = []
    network_only = flags & (_linux.CLONE_NEWNET | _linux.CLONE_NEWUSER) if flags & _linux.CLONE_NEWNET else 0
    for candidate in (flags, flags & ~_linux.CLONE_NEWCGROUP, network_only):
        if not candidate or candidate in tried:
            continue
        tried.append(candidate)
        try:
            linux.unshare(candidate)
            return candidate
        except OSError:
            continue
    return 0


def map_own_ids(uid: int, gid: int) -> None:
    """In a fresh user namespace: keep our own uid/gid (files we create keep a real owner)."""
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as fh:
            fh.write(text)


def loopback_up() -> None:
    """A cut network still gets its own loopback, so sockets inside the code work."""
    import _socket
    import fcntl
    import struct

    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        ifr = struct.pack("16sH14s", b"lo", 0x1 | 0x8 | 0x40, b"")  # UP|LOOPBACK|RUNNING
        fcntl.ioctl(s.fileno(), 0x8914, ifr)  # SIOCSIFFLAGS
    finally:
        s.close()


class RootBuilder:
    """Builds the new root under ``plan["base"]`` and pivots into it."""

    def __init__(self, linux: Linux, plan: dict[str, Any], uid: int, gid: int, notes: list[str],
                 own_pids: bool = True) -> None:
        self.linux = linux
        self.own_pids = own_pids
        self.plan = plan
        self.uid, self.gid = uid, gid
        self.notes = notes
        self.root: str = plan["base"]
        self.bound: list[str] = []  # read-only binds, to skip paths they already show

    def inside(self, path: str) -> str:
        return self.root + path

    def makedirs(self, path: str, mode: int = 0o755) -> None:
        """Create ``path`` (absolute, inside the new root) and its parents as plain directories.

        Never through a symbolic link: one created here may point at a host path.
        """
        current = self.root
        for part in [p for p in path.split("/") if p]:
            current = f"{current}/{part}"
            if os.path.islink(current):
                raise OSError(f"{path}: a symbolic link is in the way inside the sandbox")
            if not os.path.lexists(current):
                os.mkdir(current, mode)

    def bind(self, source: str, target: str, writable: bool = False, device: bool = False) -> None:
        """Bind ``source`` at ``target`` inside; read-only unless ``writable``; no devices unless ``device``."""
        inner = self.inside(target)
        is_dir = os.path.isdir(source)
        if not os.path.lexists(inner):
            self.makedirs(os.path.dirname(target) or "/")
            if is_dir:
                os.mkdir(inner, 0o755)
            else:
                os.close(os.open(inner, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        self.linux.mount(source, inner, None, MS_BIND)
        flags = MS_REMOUNT | MS_BIND | MS_NOSUID | (0 if device else MS_NODEV) | (0 if writable else MS_RDONLY)
        self.linux.mount(None, inner, None, flags)

    def covered(self, path: str) -> bool:
        return any(path == p or path.startswith(p.rstrip("/") + "/") for p in self.bound)

    def bind_readonly(self, path: str) -> None:
        real = os.path.realpath(path)
        if self.covered(real) or not os.path.exists(real):
            return
        self.bind(real, real)
        self.bound.append(real)
        if os.path.abspath(path) != real and not os.path.lexists(self.inside(os.path.abspath(path))):
            self.makedirs(os.path.dirname(os.path.abspath(path)))
            os.symlink(real, self.inside(os.path.abspath(path)))

    def build(self) -> None:
        plan, linux = self.plan, self.linux
        linux.mount(None, "/", None, MS_REC | MS_PRIVATE)
        linux.mount("tmpfs", self.root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=2m,nr_inodes=4096")
        for path in SYSTEM_DIRS:
            if os.path.islink(path):
                os.symlink(os.readlink(path), self.inside(path))
            elif os.path.isdir(path):
                self.bind(path, path)
                self.bound.append(path)
        self.dev()
        self.scratch()  # before the interpreter: a venv under /tmp must land on top of it
        for path in plan["interpreter"]:
            self.bind_readonly(path)
        self.etc()
        self.proc()
        for path in plan["readable"]:
            self.bind_readonly(path)
        if plan["cwd"]:
            real = os.path.realpath(plan["cwd"])
            self.bind(real, real, writable=True)
        self.pivot()

    def scratch(self) -> None:
        """One tmpfs, size-limited, behind /sandbox, /tmp, /var/tmp and /dev/shm."""
        staging = self.inside("/.scratch")
        os.mkdir(staging, 0o700)
        size = f"size={self.plan['scratch_mb']}m,nr_inodes={max(1024, self.plan['scratch_mb'] * 64)},mode=0755"
        self.linux.mount("tmpfs", staging, "tmpfs", MS_NOSUID | MS_NODEV, size)
        os.mkdir(f"{staging}/work", 0o700)
        os.chown(f"{staging}/work", self.uid, self.gid)
        for name, target in (("tmp", "/tmp"), ("vartmp", "/var/tmp"), ("shm", "/dev/shm")):
            os.mkdir(f"{staging}/{name}")
            os.chmod(f"{staging}/{name}", 0o1777)
            self.makedirs(target)
            self.linux.mount(f"{staging}/{name}", self.inside(target), None, MS_BIND)
        self.makedirs(WORKDIR)
        self.linux.mount(f"{staging}/work", self.inside(WORKDIR), None, MS_BIND)
        for name, data in self.plan["files"].items():
            path = f"{staging}/work/{name}"
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644), "wb") as fh:
                fh.write(data)
            os.chown(path, self.uid, self.gid)
        self.linux.umount(staging, MNT_DETACH)
        os.rmdir(staging)

    def dev(self) -> None:
        devdir = self.inside("/dev")
        self.makedirs("/dev")
        self.linux.mount("tmpfs", devdir, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k,nr_inodes=256")
        for name in DEVICES:
            if os.path.exists(f"/dev/{name}"):
                self.bind(f"/dev/{name}", f"/dev/{name}", writable=True, device=True)
        for path in self.plan["devices"]:
            self.bind(path, path, writable=True, device=True)
        for name, target in DEV_LINKS:
            if not os.path.lexists(f"{devdir}/{name}"):
                os.symlink(target, f"{devdir}/{name}")
        os.mkdir(f"{devdir}/shm", 0o755)  # scratch() binds its shm here
        self.linux.mount(None, devdir, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC)

    def etc(self) -> None:
        self.makedirs("/etc")
        for name in ETC_FILES + (("resolv.conf",) if self.plan["network"] else ()):
            path = f"/etc/{name}"
            if os.path.islink(path):
                os.symlink(os.readlink(path), self.inside(path))
            elif os.path.exists(path):
                self.bind(path, path)
        users = (f"root:x:0:0:root:/root:/usr/sbin/nologin\n"
                 f"sandbox:x:{self.uid}:{self.gid}:sandbox:{WORKDIR}:/bin/sh\n"
                 "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
        groups = f"root:x:0:\nsandbox:x:{self.gid}:\nnogroup:x:65534:\n"
        for name, text in (("passwd", users), ("group", groups), ("hostname", "sandbox\n")):
            with open(self.inside(f"/etc/{name}"), "w") as fh:
                fh.write(text)

    def proc(self) -> None:
        """A /proc of the call's own PID namespace; without one, other users' processes hidden."""
        self.makedirs("/proc")
        options = None if self.own_pids else "hidepid=2"
        try:
            self.linux.mount("proc", self.inside("/proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, options)
        except OSError as exc:
            self.notes.append(f"no /proc inside the sandbox ({exc.strerror})")

    def pivot(self) -> None:
        os.chdir(self.root)
        self.linux.pivot_root(".", ".")
        self.linux.umount(".", MNT_DETACH)
        os.chdir("/")
        self.linux.mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
