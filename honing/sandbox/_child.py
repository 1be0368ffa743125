"""Child side: confine, then run. Three processes, each with one job.

* **runner** (started by the caller, still privileged): reads the job, waits until the
  caller has moved it into the call's cgroups, enters fresh namespaces (PID, mount, IPC,
  UTS, cgroup, network unless allowed, and a user namespace when not root), forks the
  monitor and waits for it.
* **monitor** (PID 1 of the new PID namespace): builds the minimal filesystem, sets the
  limits, drops to the call's uid, installs the seccomp filter, reports the set-up on the
  status pipe, forks the worker, reaps every process and, once the worker has exited,
  reports its exit status and exits. As PID 1 its exit makes the kernel kill everything
  left in the namespace, so nothing the code started outlives the call.
* **worker** (``_worker``): runs the code and writes its result frames.

The status pipe is held only by the runner and the monitor: the code cannot reach it (it
is closed in the worker, the monitor is not dumpable, ``ptrace`` is filtered), so the
caller believes an exit status only from there. Every step fails closed: if confinement
cannot be applied as reported, the code does not run.

Stdlib only: ``_runner.py`` imports this file as a top-level module.
"""

from __future__ import annotations

import os
import resource
import select
import struct
import sys

try:  # inside the package (the caller, tests) or as top-level modules (the child)
    from . import _codec, _linux, _mounts, _seccomp, _worker
except ImportError:
    import _codec  # type: ignore[import-not-found, no-redef]
    import _linux  # type: ignore[import-not-found, no-redef]
    import _mounts  # type: ignore[import-not-found, no-redef]
    import _seccomp  # type: ignore[import-not-found, no-redef]
    import _worker  # type: ignore[import-not-found, no-redef]

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs the child ~5 ms to import
    from typing import Any, NoReturn

    from ._linux import Linux

    Job = dict[str, Any]  # the caller's job description (``_subprocess`` writes it)

CLONE_NEWCGROUP = _linux.CLONE_NEWCGROUP
CLONE_NEWIPC = _linux.CLONE_NEWIPC
CLONE_NEWNET = _linux.CLONE_NEWNET
CLONE_NEWNS = _linux.CLONE_NEWNS
CLONE_NEWPID = _linux.CLONE_NEWPID
CLONE_NEWUSER = _linux.CLONE_NEWUSER
CLONE_NEWUTS = _linux.CLONE_NEWUTS

SCRIPT_DIR = os.path.dirname(os.path.abspath(__file__))
# The job and the arguments come from the caller: trusted, so only sanity bounds.
TRUSTED = _codec.Limits(max_bytes=1 << 40, max_depth=1000, max_int_bytes=1 << 30, max_decimal_chars=1 << 30,
                        memory_budget=1 << 50, max_collisions=1 << 40, max_seconds=3600.0)


def _read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _apply_rlimits(job: Job, already_running: int, enforced: list[str]) -> None:
    mb = 1 << 20
    wanted: dict[int, tuple[tuple[int, int], str | None]] = {
        resource.RLIMIT_AS: ((job["memory_mb"] * mb,) * 2, "memory_rlimit"),
        resource.RLIMIT_CPU: ((job["cpu_seconds"], job["cpu_seconds"] + 1), "cpu_rlimit"),
        resource.RLIMIT_FSIZE: ((job["file_size_mb"] * mb,) * 2, "file_size_rlimit"),
        resource.RLIMIT_CORE: ((0, 0), None),
        # + 1: the monitor runs as the same uid; + 1 more when the pids cgroup (which reports
        # that its limit was hit) enforces the same bound
        resource.RLIMIT_NPROC: (((job["max_processes"] + 1 + job["pids_cgroup"] + already_running),) * 2,
                                "processes_rlimit"),
        resource.RLIMIT_NOFILE: ((1024, 1024), None),
    }
    for res, ((soft, hard), name) in wanted.items():
        _, cur_hard = resource.getrlimit(res)
        if cur_hard != resource.RLIM_INFINITY:
            hard = min(hard, cur_hard)
        resource.setrlimit(res, (min(soft, hard), hard))
        if name:
            enforced.append(name)


def _own_process_count() -> int:
    """Processes of our uid (RLIMIT_NPROC counts them all when we have no uid of our own)."""
    uid, count = str(os.getuid()), 0
    try:
        pids = os.listdir("/proc")
    except OSError:
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


def _drop_privileges(linux: Linux, uid: int | None, gid: int) -> None:
    if uid is not None:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
        if 0 in os.getresuid() or 0 in os.getresgid():
            raise RuntimeError("privilege drop did not take effect")
    linux.drop_capabilities()


def send(fd: int, tag: bytes, value: Any) -> None:
    payload = _codec.encode(value, max_bytes=1 << 16)
    data = tag + struct.pack(">Q", len(payload)) + payload
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _check_alive(fd: int) -> None:
    """After PR_SET_PDEATHSIG: the runner may have died just before; the pipe says so."""
    readable, _, _ = select.select([fd], [], [], 0)
    if readable:  # EOF: nobody holds the write end any more
        os._exit(75)


class Monitor:
    """The monitor's set-up, in the order that keeps every step privileged until it is done."""

    def __init__(self, job: Job, linux: Linux, ns_flags: int, fds: tuple[int, int, int]) -> None:
        self.job = job
        self.linux = linux
        self.ns = ns_flags
        self.status_fd, self.result_fd, self.alive_fd = fds
        self.enforced: list[str] = []
        self.notes: list[str] = list(job["runner_notes"])
        self.workdir = self.home = self.tmp = ""  # set by setup()

    def setup(self) -> None:
        job, linux, ns = self.job, self.linux, self.ns
        uid, gid = job["uid"], job["gid"]
        ids = (uid, gid) if uid is not None else (os.getuid(), os.getgid())
        if ns & CLONE_NEWNS:
            try:
                _mounts.RootBuilder(linux, job["plan"], ids[0], ids[1], self.notes,
                                    own_pids=bool(ns & CLONE_NEWPID)).build()
            except OSError as exc:
                raise RuntimeError(f"the private filesystem could not be built: {exc}") from exc
            self.home, self.tmp = _mounts.WORKDIR, "/tmp"
            self.enforced.append("filesystem")
        else:
            self.home = self.tmp = self.host_workdir(ids)
        self.workdir = job["plan"]["cwd"] or self.home
        if ns & CLONE_NEWNET:
            try:
                _mounts.loopback_up()
            except OSError as exc:
                self.notes.append(f"the loopback interface stays down ({exc.strerror})")
        if ns & CLONE_NEWUTS:
            linux.sethostname("sandbox")
        try:
            linux.join_new_session_keyring()
            self.enforced.append("session_keyring")
        except OSError as exc:
            self.notes.append(f"no fresh session keyring ({exc.strerror})")
        already = 0 if uid is not None or ns & CLONE_NEWUSER else _own_process_count()
        _apply_rlimits(job, already, self.enforced)
        _drop_privileges(linux, uid, gid)
        if not ns & CLONE_NEWNS and not os.access(os.path.dirname(os.__file__), os.R_OK | os.X_OK):
            raise RuntimeError(f"the interpreter's files ({os.path.dirname(os.__file__)}) are not readable by "
                               "other users and no mount namespace is available to show them to the code's uid")
        linux.prctl(_linux.PR_SET_PDEATHSIG, 9)  # after the uid change, which clears it
        _check_alive(self.alive_fd)
        linux.prctl(_linux.PR_SET_DUMPABLE, 0)  # the code (same uid) cannot open our /proc files
        linux.prctl(_linux.PR_SET_NO_NEW_PRIVS, 1)
        if _seccomp.supported():
            linux.set_seccomp_filter(_seccomp.build_program())
            self.enforced.append("seccomp")
        else:
            self.notes.append(f"no seccomp filter: system call numbers for {_linux.MACHINE} are not known")

    def host_workdir(self, ids: tuple[int, int]) -> str:
        """No private filesystem: a fresh directory on the host (the caller removes it)."""
        path = os.path.join(self.job["plan"]["base"], "work")
        os.mkdir(path, 0o700)
        for name, data in self.job["plan"]["files"].items():
            target = os.path.join(path, name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as fh:
                fh.write(data)
        for root, dirs, files in os.walk(path):
            for name in [root] + [os.path.join(root, n) for n in dirs + files]:
                os.chown(name, ids[0], ids[1])
        return path

    def report(self) -> None:
        ns = self.ns
        for flag, name in ((CLONE_NEWPID, "pid_namespace"), (CLONE_NEWNET, "network_namespace"),
                           (CLONE_NEWIPC, "ipc_namespace"), (CLONE_NEWUSER, "user_namespace")):
            if ns & flag:
                self.enforced.append(name)
        if self.job["uid"] is not None:
            self.enforced.append("private_uid")
        network_isolated = False
        if ns & CLONE_NEWNET:
            import _socket

            network_isolated = all(name == "lo" for _, name in _socket.if_nameindex())
        send(self.status_fd, b"S", {"enforced": self.enforced, "notes": self.notes,
                                    "network_isolated": network_isolated})

    def run(self) -> NoReturn:
        import _signal  # type: ignore[import-not-found]  # the C module: signal imports enum (~3 ms)

        _signal.signal(_signal.SIGINT, _signal.SIG_DFL)  # as PID 1: no signal from inside reaches us
        try:
            self.setup()
        except BaseException as exc:  # noqa: BLE001 - fail closed: never run code half-confined
            send(self.status_fd, b"S", {"fatal": f"{type(exc).__name__}: {exc}", "notes": self.notes,
                                        "enforced": self.enforced})
            os._exit(70)
        self.report()
        worker = os.fork()
        if worker == 0:
            try:
                self.become_worker()  # ends the process
            except BaseException as exc:  # noqa: BLE001 - before the code ran: say why, end here
                why = _worker.fail_envelope(f"the sandbox could not start the code: {type(exc).__name__}: {exc}")
                try:
                    _worker.send(self.result_fd, b"R", _codec.encode(why))
                except OSError:
                    pass
            os._exit(70)
        os.close(self.result_fd)
        while True:  # reap everything; orphans of the code are re-parented to us
            try:
                pid, status = os.wait()
            except ChildProcessError:
                os._exit(71)
            if pid == worker:
                break
        if os.WIFSIGNALED(status):
            send(self.status_fd, b"X", {"signal": os.WTERMSIG(status)})
        else:
            send(self.status_fd, b"X", {"exit": os.WEXITSTATUS(status)})
        os._exit(0)

    def become_worker(self) -> None:
        import _signal  # the C module: signal imports enum (~3 ms)

        job = self.job
        os.close(self.status_fd)
        os.close(self.alive_fd)
        self.linux.prctl(_linux.PR_SET_DUMPABLE, 1)
        _signal.signal(_signal.SIGINT, _signal.default_int_handler)
        os.chdir(self.workdir)
        os.environ.clear()
        os.environ.update({"HOME": self.home, "TMPDIR": self.tmp})
        os.environ.update(job["env"])
        _worker.finish_interpreter(job["site_paths"], job["pth_lines"], SCRIPT_DIR,  # NumPy args need it
                                   (job["prefix"], job["exec_prefix"]))
        args: Any = ()
        kwargs: Any = {}
        arg_error: str | None = None
        try:
            if job["args_pickled"]:
                import pickle

                args, kwargs = pickle.loads(job["args"])
            else:
                args, kwargs = _codec.decode(job["args"], TRUSTED)
        except BaseException as exc:  # noqa: BLE001
            arg_error = f"arguments could not be loaded in the sandbox: {type(exc).__name__}: {exc}"
        _worker.run(job, self.result_fd, tuple(args), dict(kwargs), arg_error)


def main() -> NoReturn:
    job_fd, go_fd, status_fd, result_fd = (int(a) for a in sys.argv[1:5])
    job = _codec.decode(_read_all(job_fd), TRUSTED)
    os.close(job_fd)
    linux = _linux.Linux()
    linux.prctl(_linux.PR_SET_PDEATHSIG, 9)  # the caller's thread waits for us; if it dies, so do we
    if job["caller_pid"] and os.getppid() != job["caller_pid"]:
        os._exit(75)
    as_root = os.geteuid() == 0
    # The caller moves us into the call's cgroups while this interpreter starts (moving a
    # process can wait ~10 ms for an RCU grace period); nothing may fork before it is done.
    if os.read(go_fd, 1) != b"g":
        os._exit(75)
    os.close(go_fd)
    flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
    flags |= 0 if job["network"] else CLONE_NEWNET
    flags |= CLONE_NEWCGROUP if job["in_cgroup"] else 0
    flags |= 0 if as_root else CLONE_NEWUSER
    for name in job["refuse_namespaces"]:  # tests of the degraded paths
        flags &= ~NAMESPACE_FLAGS[name]
        job["runner_notes"].append(f"{name} namespace not used (refused for a test)")
    uid, gid = os.getuid(), os.getgid()
    got = _mounts.enter_namespaces(linux, flags) if flags else 0
    notes = job["runner_notes"]
    if got & CLONE_NEWUSER:
        try:
            _mounts.map_own_ids(uid, gid)
        except OSError as exc:
            notes.append(f"user namespace id mapping failed ({exc.strerror})")
    if flags & ~got:
        notes.append(f"namespaces refused by the kernel: {_flag_names(flags & ~got)}")
    alive_r, alive_w = os.pipe()
    monitor = os.fork()
    if monitor == 0:
        os.close(alive_w)
        Monitor(job, linux, got, (status_fd, result_fd, alive_r)).run()
    os.close(status_fd)
    os.close(result_fd)
    os.close(alive_r)
    while True:
        try:
            pid, _ = os.waitpid(monitor, 0)
        except ChildProcessError:
            break
        if pid == monitor:
            break
    os._exit(0)


NAMESPACE_FLAGS = {"mount": CLONE_NEWNS, "pid": CLONE_NEWPID, "ipc": CLONE_NEWIPC, "uts": CLONE_NEWUTS,
                   "network": CLONE_NEWNET, "cgroup": CLONE_NEWCGROUP, "user": CLONE_NEWUSER}


def _flag_names(flags: int) -> str:
    return ", ".join(name for name, flag in NAMESPACE_FLAGS.items() if flags & flag)
