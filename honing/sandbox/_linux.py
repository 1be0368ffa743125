"""The Linux calls the sandbox's child needs and Python 3.10/3.11's ``os`` lacks.

``unshare``, ``mount``, ``pivot_root``, ``prctl``, ``keyctl`` and seccomp, through
ctypes. System call numbers are listed per architecture (x86_64 and aarch64, checked
against the kernel headers by a test); elsewhere the calls that need a number report
``ENOSYS`` and the sandbox says what it could not do.

Stdlib only: the child imports this file as a top-level module (the caller and tests
import it from the package).
"""

from __future__ import annotations

import ctypes
import errno
import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs the child ~5 ms to import
    from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080
CLONE_NEW_ANY = (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER
                 | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWTIME)

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_SECCOMP = 22
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_MODE_FILTER = 2
KEYCTL_JOIN_SESSION_KEYRING = 1

MACHINE = os.uname().machine
# audit architecture of the native system call ABI, as seccomp reports it
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}.get(MACHINE)

# fmt: off
_X86_64 = {
    "ptrace": 101, "syslog": 103, "uselib": 134, "personality": 135, "vhangup": 153,
    "modify_ldt": 154, "pivot_root": 155, "_sysctl": 156, "adjtimex": 159, "chroot": 161,
    "acct": 163, "settimeofday": 164, "mount": 165, "umount2": 166, "swapon": 167,
    "swapoff": 168, "reboot": 169, "sethostname": 170, "setdomainname": 171, "iopl": 172,
    "ioperm": 173, "create_module": 174, "init_module": 175, "delete_module": 176,
    "get_kernel_syms": 177, "query_module": 178, "quotactl": 179, "nfsservctl": 180,
    "lookup_dcookie": 212, "clock_settime": 227, "kexec_load": 246, "add_key": 248,
    "request_key": 249, "keyctl": 250, "migrate_pages": 256, "unshare": 272,
    "move_pages": 279, "perf_event_open": 298, "fanotify_init": 300,
    "name_to_handle_at": 303, "open_by_handle_at": 304, "clock_adjtime": 305, "setns": 308,
    "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "finit_module": 313,
    "kexec_file_load": 320, "bpf": 321, "userfaultfd": 323,
    "clone": 56, "ioctl": 16, "capset": 126, "socket": 41,
}
_AARCH64 = {
    "lookup_dcookie": 18, "ioctl": 29, "umount2": 39, "mount": 40, "pivot_root": 41,
    "nfsservctl": 42, "chroot": 51, "vhangup": 58, "quotactl": 60, "acct": 89,
    "personality": 92, "unshare": 97, "kexec_load": 104, "init_module": 105,
    "delete_module": 106, "clock_settime": 112, "syslog": 116, "ptrace": 117, "reboot": 142,
    "sethostname": 161, "setdomainname": 162, "settimeofday": 170, "adjtimex": 171,
    "add_key": 217, "request_key": 218, "keyctl": 219, "clone": 220, "swapon": 224,
    "swapoff": 225, "migrate_pages": 238, "move_pages": 239, "perf_event_open": 241,
    "fanotify_init": 262, "name_to_handle_at": 264, "open_by_handle_at": 265,
    "clock_adjtime": 266, "setns": 268, "process_vm_readv": 270, "process_vm_writev": 271,
    "kcmp": 272, "finit_module": 273, "bpf": 280, "userfaultfd": 282, "kexec_file_load": 294,
    "capset": 91, "socket": 198,
}
# numbers from 403 on are shared by every architecture
_COMMON = {
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428,
    "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
    "clone3": 435, "pidfd_getfd": 438, "mount_setattr": 442, "quotactl_fd": 443,
    "statmount": 457, "listmount": 458,
}
# fmt: on
SYSCALLS = {**{"x86_64": _X86_64, "aarch64": _AARCH64}.get(MACHINE, {}), **_COMMON} if AUDIT_ARCH else {}


class Linux:
    """Thin checked wrappers: each raises ``OSError`` with the call's name and errno."""

    def __init__(self) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                                    ctypes.c_ulong, ctypes.c_char_p]
        self.libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
        self.libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        self.libc.syscall.restype = ctypes.c_long
        self.raw = ctypes.CDLL(None, use_errno=True)  # prctl with a pointer argument, untyped

    def _check(self, name: str, result: int) -> int:
        if result < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{name}: {os.strerror(err)}")
        return result

    def _syscall(self, name: str, *args: Any) -> int:
        nr = SYSCALLS.get(name)
        if nr is None:
            raise OSError(errno.ENOSYS, f"{name}: no system call number known for {MACHINE}")
        return self._check(name, self.libc.syscall(ctypes.c_long(nr), *args))

    def unshare(self, flags: int) -> None:
        self._check("unshare", self.libc.unshare(ctypes.c_int(flags)))

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
        enc = [x.encode() if isinstance(x, str) else x for x in (source, target, fstype, data)]
        self._check(f"mount {target}", self.libc.mount(enc[0], enc[1], enc[2], flags, enc[3]))

    def umount(self, target: str, flags: int = 0) -> None:
        self._check(f"umount {target}", self.libc.umount2(target.encode(), flags))

    def pivot_root(self, new_root: str, put_old: str) -> None:
        self._syscall("pivot_root", ctypes.c_char_p(new_root.encode()), ctypes.c_char_p(put_old.encode()))

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0) -> None:
        self._check(f"prctl {option}", self.libc.prctl(option, arg2, arg3, 0, 0))

    def join_new_session_keyring(self) -> None:
        self._syscall("keyctl", ctypes.c_long(KEYCTL_JOIN_SESSION_KEYRING), ctypes.c_void_p(None))

    def set_seccomp_filter(self, program: bytes) -> None:
        """Install a classic-BPF seccomp program (``program`` is packed ``sock_filter`` entries)."""
        count = len(program) // 8

        class SockFprog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

        buffer = ctypes.create_string_buffer(program, len(program))
        fprog = SockFprog(count, ctypes.cast(buffer, ctypes.c_void_p))
        self._check("prctl(PR_SET_SECCOMP)", self.raw.prctl(
            ctypes.c_int(PR_SET_SECCOMP), ctypes.c_ulong(SECCOMP_MODE_FILTER), ctypes.byref(fprog),
            ctypes.c_ulong(0), ctypes.c_ulong(0)))

    def drop_capabilities(self) -> None:
        """Empty the effective, permitted and inheritable capability sets of this process.

        Needed inside a user namespace, where a non-root uid keeps the namespace's full
        capabilities until it execs; a no-op after root switched to a non-root uid.
        """
        header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
        data = (ctypes.c_uint32 * 6)()  # two all-zero {effective, permitted, inheritable} structs
        self._syscall("capset", header, data)

    def sethostname(self, name: str) -> None:
        data = name.encode()
        self._check("sethostname", self.libc.sethostname(ctypes.c_char_p(data), ctypes.c_size_t(len(data))))
