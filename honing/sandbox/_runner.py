"""Child side of honing.sandbox: run by a fresh ``python -I`` interpreter as a script.

Stdlib only, and never imported by the parent. Order matters: the job is read while
still privileged, then the network is cut, the interpreter's files are made reachable,
limits are applied and privileges dropped, and only then does untrusted code run.
The setup report is sent *before* the untrusted code starts, so the code cannot forge it.
"""

import builtins
import json
import linecache
import os
import pickle
import resource
import struct
import sys
import traceback
import types

FILENAME = "<sandbox>"
CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
PR_SET_NO_NEW_PRIVS = 38


def send(fd, tag, payload):
    data = tag + struct.pack(">Q", len(payload)) + payload
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _libc():
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def call(name, *args):
        fn = getattr(libc, name, None)
        if fn is None:
            raise OSError(38, f"{name}: not available on this system")
        if fn(*args) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{name}: {os.strerror(err)}")

    return call


def _loopback_up():
    """A cut network still gets its own loopback, so local sockets inside the code work."""
    import fcntl
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifr = struct.pack("16sH14s", b"lo", 0x1 | 0x8 | 0x40, b"")  # UP|LOOPBACK|RUNNING
        fcntl.ioctl(s, 0x8914, ifr)  # SIOCSIFFLAGS


def cut_network(call, as_root, setup):
    """Move into an empty network namespace; report whether it really happened."""
    flags = CLONE_NEWNET if as_root else CLONE_NEWUSER | CLONE_NEWNET
    uid, gid = os.getuid(), os.getgid()
    try:
        call("unshare", flags)
    except OSError as exc:
        setup["notes"].append(f"network not isolated ({exc})")
        return
    if not as_root:  # map ourselves so files we create keep a real owner
        try:
            for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
                with open(f"/proc/self/{name}", "w") as fh:
                    fh.write(text)
        except OSError as exc:
            setup["notes"].append(f"user namespace map failed ({exc})")
    try:
        _loopback_up()
    except OSError as exc:
        setup["notes"].append(f"loopback stays down ({exc})")
    import socket

    names = [name for _, name in socket.if_nameindex()]
    setup["network_isolated"] = all(name == "lo" for name in names)


def _first_blocked(path):
    """The first directory on ``path`` that other users cannot traverse, or None."""
    cur = "/"
    for part in [p for p in path.split("/") if p]:
        cur = os.path.join(cur, part)
        try:
            st = os.stat(cur)
        except OSError:
            return None
        if not st.st_mode & 0o001 and os.path.isdir(cur):
            return cur
    return None


def expose_paths(call, wanted, setup):
    """Make ``wanted`` reachable for an unprivileged uid inside a private mount namespace.

    A directory such as ``/root`` (mode 700) that holds the interpreter is covered with an
    empty tmpfs into which only the needed entries are bind-mounted back, so the rest of
    it stays hidden. Nothing here propagates to the host: ``/`` is made private first.
    """
    call("unshare", CLONE_NEWNS)
    call("mount", b"none", b"/", None, MS_REC | MS_PRIVATE, None)
    wanted = list(wanted)
    for _ in range(4):  # nested blocked directories are handled round by round
        groups = {}
        for path in list(wanted):
            blocked = _first_blocked(path)
            if blocked is None or blocked == path:
                if blocked is not None:
                    setup["notes"].append(f"cannot expose {path}")
                wanted.remove(path)
                continue
            child = path[len(blocked):].strip("/").split("/", 1)[0]
            groups.setdefault(blocked, set()).add(child)
        if not groups:
            break
        for parent, children in sorted(groups.items()):
            fds = {}
            for child in children:
                try:
                    fds[child] = os.open(os.path.join(parent, child), os.O_PATH)
                except OSError:
                    pass
            call("mount", b"tmpfs", parent.encode(), b"tmpfs", MS_NOSUID | MS_NODEV,
                 b"mode=0755,size=64k")
            for child, fd in fds.items():
                target = os.path.join(parent, child)
                if os.path.isdir(f"/proc/self/fd/{fd}"):
                    os.mkdir(target)
                else:
                    open(target, "w").close()
                call("mount", f"/proc/self/fd/{fd}".encode(), target.encode(), None, MS_BIND | MS_REC, None)
                os.close(fd)
    try:  # hide other users' processes (their command lines may carry secrets)
        call("mount", b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, b"hidepid=2")
    except OSError as exc:
        setup["notes"].append(f"/proc not restricted ({exc})")


def _own_process_count():
    uid, count = str(os.getuid()), 0
    try:
        pids = os.listdir("/proc")
    except OSError:  # no procfs: fall back to the bare limit
        return 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("Uid:"):
                        count += line.split()[1] == uid
                        break
        except (OSError, ValueError):
            continue
    return count


def apply_limits(job, already_running):
    mb = 1 << 20
    nproc = job["max_processes"] + already_running  # NPROC counts every process of the user
    wanted = {
        resource.RLIMIT_AS: (job["memory_mb"] * mb,) * 2,
        resource.RLIMIT_CPU: (job["cpu_seconds"], job["cpu_seconds"] + 1),
        resource.RLIMIT_FSIZE: (job["file_size_mb"] * mb,) * 2,
        resource.RLIMIT_CORE: (0, 0),
        resource.RLIMIT_NPROC: (nproc,) * 2,
        resource.RLIMIT_NOFILE: (1024, 1024),
    }
    for res, (soft, hard) in wanted.items():
        cur_soft, cur_hard = resource.getrlimit(res)
        if cur_hard != resource.RLIM_INFINITY:
            hard = min(hard, cur_hard)
        resource.setrlimit(res, (min(soft, hard), hard))


def drop_privileges(call, uid):
    call("prctl", PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if 0 in os.getresuid() or 0 in os.getresgid():
        raise RuntimeError("privilege drop did not take effect")


def _user_traceback(exc):
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def execute(job, args, kwargs):
    """Run the code; returns (envelope, value_bytes or None, exit_status)."""
    code, entry = job["code"], job["entry_point"]
    name = "__main__" if entry is None else "__sandbox__"
    module = types.ModuleType(name)
    module.__builtins__ = builtins
    sys.modules[name] = module
    linecache.cache[FILENAME] = (len(code), None, code.splitlines(True), FILENAME)
    try:
        compiled = compile(code, FILENAME, "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = f" (line {exc.lineno})" if exc.lineno else ""
        return _fail(f"{type(exc).__name__}: {exc.msg}{where}", _user_traceback(exc)), None, 1
    except (ValueError, MemoryError, RecursionError) as exc:
        return _fail(f"{type(exc).__name__}: {exc}", None), None, 1
    try:
        exec(compiled, module.__dict__)
        if entry is None:
            return {"ok": True}, None, 0
        fn = module.__dict__.get(entry)
        if fn is None:
            return _fail(f"entry point {entry!r} not defined"), None, 1
        if not callable(fn):
            return _fail(f"entry point {entry!r} is not callable (it is a {type(fn).__name__})"), None, 1
        value = fn(*args, **kwargs)
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if entry is None:
            if exc.code is not None and not isinstance(exc.code, int):
                print(exc.code, file=sys.stderr)
            return ({"ok": True} if status == 0 else _fail(f"SystemExit: {exc.code}")), None, status
        return _fail(f"SystemExit: sys.exit({exc.code!r}) was called instead of returning"), None, 1
    except BaseException as exc:  # noqa: BLE001 - everything untrusted code raises is a result
        message = str(exc)
        return _fail(f"{type(exc).__name__}: {message}" if message else type(exc).__name__,
                     _user_traceback(exc)), None, 1
    try:
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException as exc:  # noqa: BLE001
        kind = type(value).__qualname__
        return _fail(f"return value of type {kind!r} is not serializable: {exc}"), None, 1
    return {"ok": True}, payload, 0


def _fail(error, tb=None):
    return {"ok": False, "error": error, "traceback": tb}


def main():
    ctl, job_path = int(sys.argv[1]), sys.argv[2]
    setup = {"network_isolated": False, "notes": []}
    with open(job_path, "rb") as fh:
        job = pickle.load(fh)
    args, kwargs, arg_error = (), {}, None
    try:
        args, kwargs = pickle.loads(job["arguments"])
    except BaseException as exc:  # noqa: BLE001
        arg_error = f"arguments could not be loaded in the sandbox: {type(exc).__name__}: {exc}"
    as_root = os.geteuid() == 0
    try:
        # Without our own uid, NPROC also counts the user's other processes. Count them
        # before entering a user namespace, where unmapped owners all look alike.
        already_running = 0 if job["uid"] is not None else _own_process_count()
        call = _libc() if (as_root or not job["network"]) else None
        if not job["network"]:
            cut_network(call, as_root, setup)
        if job["uid"] is not None:
            try:
                expose_paths(call, job["expose"], setup)
            except OSError as exc:
                setup["notes"].append(f"interpreter paths not exposed ({exc})")
        apply_limits(job, already_running)
        if job["uid"] is not None:
            drop_privileges(call, job["uid"])
    except BaseException as exc:  # noqa: BLE001 - fail closed: never run code half-confined
        setup["fatal"] = f"{type(exc).__name__}: {exc}"
        send(ctl, b"S", json.dumps(setup).encode())
        os._exit(70)
    setup["uid"] = os.getuid()
    send(ctl, b"S", json.dumps(setup).encode())
    if arg_error:
        envelope, value, status = _fail(arg_error), None, 1
    else:
        envelope, value, status = execute(job, args, kwargs)
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001
            pass
    try:
        send(ctl, b"R", json.dumps(envelope).encode())
        if value is not None:
            send(ctl, b"V", value)
    except OSError:
        pass
    os._exit(status & 0xFF)  # skip atexit hooks and non-daemon threads of the code


if __name__ == "__main__":
    main()
