"""The seccomp filter of sandboxed code: a short classic-BPF denylist, built by hand.

Why a denylist: candidate code runs arbitrary Python with NumPy, compilers and
subprocesses, so an allowlist would break real programs in ways nobody can predict.
What is denied is what such code never needs and what attacks on the kernel or on the
sandbox use: the keyring (``keyctl``, ``add_key``, ``request_key``), ``io_uring_*``,
``ptrace`` and cross-process memory access, ``bpf``, ``perf_event_open``,
``userfaultfd``, every mount-family call, ``unshare``/``setns`` and ``clone`` with any
``CLONE_NEW*`` flag (so no nested user namespace), module and kexec loading, file
handles (``open_by_handle_at``), clock and host-name changes, and the ``TIOCSTI`` /
``TIOCLINUX`` terminal ioctls. Denied calls fail with ``EPERM``. Sockets are limited to
the families programs use (unix, IPv4, IPv6, netlink): the others are rarely used kernel
code (a history of exploits), and ``AF_VSOCK`` would talk to the hypervisor past the
network namespace; they fail with ``EAFNOSUPPORT``. ``clone3`` fails with
``ENOSYS`` (its flags sit behind a pointer seccomp cannot read), which makes the C library
fall back to ``clone``. System calls of a foreign ABI (i386 ``int 0x80``, x32, arm32) fail
with ``ENOSYS``.

Why not libseccomp or a PyPI wrapper: they need a C library that may be missing, and the
filter is ~140 instructions over two architectures whose numbers a test checks against the
kernel headers. Stdlib only: the child imports this file as a top-level module.
"""

import errno
import struct

try:  # inside the package (the caller, tests) or as top-level modules (the child)
    from . import _linux
except ImportError:
    import _linux  # type: ignore[import-not-found, no-redef]


__all__ = ["DENIED", "build_program", "supported"]

DENIED = (
    "add_key", "keyctl", "request_key",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    "bpf", "perf_event_open", "userfaultfd", "lookup_dcookie", "syslog",
    "mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount", "fsopen", "fsconfig",
    "fsmount", "fspick", "mount_setattr", "statmount", "listmount",
    "unshare", "setns",
    "init_module", "finit_module", "delete_module", "create_module", "get_kernel_syms",
    "query_module", "kexec_load", "kexec_file_load", "reboot", "swapon", "swapoff", "acct",
    "quotactl", "quotactl_fd", "nfsservctl", "uselib", "_sysctl",
    "name_to_handle_at", "open_by_handle_at", "fanotify_init",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "sethostname", "setdomainname",
    "iopl", "ioperm", "modify_ldt", "vhangup", "move_pages", "migrate_pages",
)

_LD_ABS_W, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_ALLOW = 0x7FFF0000
_ERRNO = 0x00050000
_TIOCSTI, _TIOCLINUX = 0x5412, 0x541C
SOCKET_FAMILIES = (1, 2, 10, 16)  # AF_UNIX, AF_INET, AF_INET6, AF_NETLINK
_X32_BIT = 0x40000000
# offsets in struct seccomp_data: nr, arch, then args[] (low 32 bits first on little-endian)
_NR, _ARCH, _ARG0, _ARG1 = 0, 4, 16, 24


def supported() -> bool:
    """True on the architectures whose system call numbers this module knows."""
    return _linux.AUDIT_ARCH is not None


def _op(code: int, k: int = 0, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def build_program() -> bytes:
    """The filter as packed ``sock_filter`` entries, for the running architecture."""
    if not supported():
        raise OSError(errno.ENOSYS, f"no seccomp filter for architecture {_linux.MACHINE}")
    nr = _linux.SYSCALLS
    eperm, enosys = _ERRNO | errno.EPERM, _ERRNO | errno.ENOSYS
    prog = [
        _op(_LD_ABS_W, _ARCH),
        _op(_JEQ, int(_linux.AUDIT_ARCH or 0), jt=1),
        _op(_RET, enosys),  # a foreign system call ABI
        _op(_LD_ABS_W, _NR),
    ]
    if _linux.MACHINE == "x86_64":
        prog += [_op(_JGE, _X32_BIT, jf=1), _op(_RET, enosys)]
    prog += [_op(_JEQ, nr["clone3"], jf=1), _op(_RET, enosys)]
    prog += [  # clone: refuse any CLONE_NEW* flag (new namespaces)
        _op(_JEQ, nr["clone"], jf=4),
        _op(_LD_ABS_W, _ARG0),
        _op(_JSET, _linux.CLONE_NEW_ANY, jf=1),
        _op(_RET, eperm),
        _op(_RET, _ALLOW),
    ]
    prog += [  # ioctl: refuse the ones that push input into a terminal
        _op(_JEQ, nr["ioctl"], jf=5),
        _op(_LD_ABS_W, _ARG1),
        _op(_JEQ, _TIOCSTI, jt=1),
        _op(_JEQ, _TIOCLINUX, jf=1),
        _op(_RET, eperm),
        _op(_RET, _ALLOW),
    ]
    allowed = [_op(_JEQ, family, jt=len(SOCKET_FAMILIES) - i) for i, family in enumerate(SOCKET_FAMILIES)]
    prog += [  # socket: only the usual address families
        _op(_JEQ, nr["socket"], jf=len(allowed) + 3),
        _op(_LD_ABS_W, _ARG0),
        *allowed,
        _op(_RET, _ERRNO | errno.EAFNOSUPPORT),
        _op(_RET, _ALLOW),
    ]
    for name in DENIED:
        number = nr.get(name)
        if number is not None:
            prog += [_op(_JEQ, number, jf=1), _op(_RET, eperm)]
    prog.append(_op(_RET, _ALLOW))
    return b"".join(prog)
