"""Caller side: one cgroup per call, for limits that hold for the whole call.

Memory (including tmpfs pages and ``memfd`` files, which per-process limits miss),
process count and CPU time are charged to the call's cgroup, whatever the code forks.
The cgroup is created under the caller's own cgroup, so the caller's limits still bound
it. cgroup v2 is used where its controllers are delegated to us; on hybrid machines
(controllers still on v1 hierarchies, as on many container hosts) the v1 ``memory``,
``pids`` and ``cpuacct`` hierarchies are used instead, and v2 still provides
``cgroup.kill`` and CPU accounting. Where nothing is writable (an unprivileged user
without delegation), ``CallCgroup.create`` says why and the rlimits remain.
"""

from __future__ import annotations

import errno
import itertools
import os
import time
from dataclasses import dataclass, field

from ._result import Protection
from ._sweep import kill_each

__all__ = ["CallCgroup"]

_counter = itertools.count()


@dataclass(frozen=True)
class _Hierarchy:
    version: int
    directory: str  # the caller's own cgroup in this hierarchy
    controllers: frozenset[str]


def _mounts() -> list[tuple[str, str, str, set[str]]]:
    """(fstype, mount point, mount root, super options) of every cgroup mount."""
    found = []
    try:
        with open("/proc/self/mountinfo") as fh:
            for line in fh:
                left, _, right = line.partition(" - ")
                parts, rparts = left.split(), right.split()
                if len(parts) >= 5 and len(rparts) >= 3 and rparts[0] in ("cgroup", "cgroup2"):
                    found.append((rparts[0], parts[4].replace("\\040", " "), parts[3], set(rparts[2].split(","))))
    except OSError:
        pass
    return found


def _own_paths() -> dict[str, str]:
    """Controller list (``""`` for v2) -> the caller's cgroup path, from /proc/self/cgroup."""
    paths = {}
    try:
        with open("/proc/self/cgroup") as fh:
            for line in fh:
                parts = line.rstrip("\n").split(":", 2)
                if len(parts) == 3:
                    paths[parts[1]] = parts[2]
    except OSError:
        pass
    return paths


def _hierarchies() -> list[_Hierarchy]:
    own = _own_paths()
    found = []
    for fstype, mountpoint, root, options in _mounts():
        controllers: frozenset[str]
        if fstype == "cgroup2":
            path, controllers = own.get(""), frozenset()
        else:
            names = sorted(o for o in options if o in ("memory", "pids", "cpuacct", "cpu"))
            if not names:
                continue
            path = next((p for key, p in own.items() if key and set(key.split(",")) >= set(names)), None)
            controllers = frozenset(names)
        if path is None or not (path + "/").startswith(root.rstrip("/") + "/"):
            continue
        directory = os.path.join(mountpoint, path[len(root.rstrip("/")):].lstrip("/")).rstrip("/")
        if fstype == "cgroup2":
            controllers = frozenset(_read(os.path.join(directory, "cgroup.subtree_control")).split())
        found.append(_Hierarchy(1 if fstype == "cgroup" else 2, directory, controllers))
    return found


def _read(path: str) -> str:
    try:
        with open(path) as fh:
            return fh.read()
    except OSError:
        return ""


def _write(path: str, text: str) -> None:
    with open(path, "w") as fh:
        fh.write(text)


def _stat_field(text: str, key: str) -> int | None:
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return None


@dataclass
class CallCgroup:
    """The cgroups of one call: join them (``procs_files``), read usage, kill, remove."""

    directories: list[str] = field(default_factory=list)
    enforced: set[Protection] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    memory_dir: str | None = None
    memory_version: int = 0
    pids_dir: str | None = None
    cpu_dir: str | None = None
    cpu_version: int = 0
    v2_dir: str | None = None

    @property
    def procs_files(self) -> list[str]:
        return [os.path.join(d, "cgroup.procs") for d in self.directories]

    def join(self, pid: int) -> None:
        """Move ``pid`` (the runner, before it forks) into every cgroup of the call."""
        for path in self.procs_files:
            try:
                _write(path, str(pid))
            except OSError as exc:
                self.notes.append(f"could not join cgroup {os.path.dirname(path)} ({exc.strerror}): "
                                  "its limits do not apply")
                self.enforced.clear()
                return

    @classmethod
    def create(cls, memory_mb: int, max_processes: int, whole_call_cpu: bool) -> CallCgroup:
        """Create and configure the call's cgroups; what could not be done is in ``notes``."""
        self = cls()
        name = f"honing-{os.getpid()}-{next(_counter)}"
        hierarchies = _hierarchies()
        if not hierarchies:
            self.notes.append("no cgroup hierarchy is mounted: memory, processes and CPU are limited per process")
            return self
        wanted = {"memory": memory_mb << 20, "pids": max_processes + 2}  # + runner and monitor
        for h in sorted(hierarchies, key=lambda h: -h.version):  # v2 first
            still_missing = {"memory": self.memory_dir, "pids": self.pids_dir, "cpuacct": self.cpu_dir}
            if h.version == 1 and not any(c in h.controllers and still_missing[c] is None for c in still_missing):
                continue
            directory = os.path.join(h.directory, name)
            try:
                os.mkdir(directory)
            except OSError as exc:
                if h.version == 2 or "memory" in h.controllers:
                    self.notes.append(f"cannot create a cgroup under {h.directory} ({exc.strerror})")
                continue
            self.directories.append(directory)
            try:
                self._configure(h, directory, wanted)
            except OSError as exc:
                self.notes.append(f"cgroup {directory}: {exc.strerror or exc}")
        if whole_call_cpu and self.cpu_dir:
            self.enforced.add(Protection.CPU_CGROUP)
        missing = [what for what, got in (("memory", self.memory_dir), ("processes", self.pids_dir),
                                          ("CPU time", self.cpu_dir)) if got is None]
        if missing:
            self.notes.append(f"no cgroup limit for {', '.join(missing)}: limited per process instead")
        return self

    def _configure(self, h: _Hierarchy, directory: str, wanted: dict[str, int]) -> None:
        if h.version == 2:
            self.v2_dir = directory
        if self.memory_dir is None and "memory" in h.controllers:
            memory = str(wanted["memory"])
            # No swap either way: v2 limits swap on its own, v1 limits memory and swap together.
            limit, swap, swap_limit = (("memory.max", "memory.swap.max", "0") if h.version == 2
                                       else ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes", memory))
            _write(os.path.join(directory, limit), memory)
            if os.path.exists(os.path.join(directory, swap)):
                _write(os.path.join(directory, swap), swap_limit)
            self.memory_dir, self.memory_version = directory, h.version
            self.enforced.add(Protection.MEMORY_CGROUP)
        if self.pids_dir is None and "pids" in h.controllers:  # the same file in v1 and v2
            _write(os.path.join(directory, "pids.max"), str(wanted["pids"]))
            self.pids_dir = directory
            self.enforced.add(Protection.PIDS_CGROUP)
        cpu = os.path.exists(os.path.join(directory, "cpu.stat")) if h.version == 2 else "cpuacct" in h.controllers
        if self.cpu_dir is None and cpu:
            self.cpu_dir, self.cpu_version = directory, h.version

    def cpu_seconds(self) -> float | None:
        """CPU time used by every process of the call so far."""
        if self.cpu_dir is None:
            return None
        if self.cpu_version == 2:
            usec = _stat_field(_read(os.path.join(self.cpu_dir, "cpu.stat")), "usage_usec")
            return None if usec is None else usec / 1e6
        text = _read(os.path.join(self.cpu_dir, "cpuacct.usage")).strip()
        return int(text) / 1e9 if text.isdigit() else None

    def out_of_memory(self) -> bool:
        if self.memory_dir is None:
            return False
        name = "memory.events" if self.memory_version == 2 else "memory.oom_control"
        return bool(_stat_field(_read(os.path.join(self.memory_dir, name)), "oom_kill"))

    def hit_process_limit(self) -> bool:
        if self.pids_dir is None:
            return False
        return bool(_stat_field(_read(os.path.join(self.pids_dir, "pids.events")), "max"))

    def kill(self) -> bool:
        """SIGKILL every process of the call; True once the cgroups are empty."""
        if self.v2_dir and os.path.exists(os.path.join(self.v2_dir, "cgroup.kill")):
            try:
                _write(os.path.join(self.v2_dir, "cgroup.kill"), "1")
            except OSError:
                pass
        for _ in range(100):
            pids = [int(p) for f in self.procs_files for p in _read(f).split() if p.isdigit()]
            if not pids:
                return True
            kill_each(set(pids))
            time.sleep(0.002)
        return False

    def remove(self) -> None:
        """Remove the call's cgroups, waiting briefly for killed processes to leave them."""
        deadline = time.monotonic() + 2.0
        for directory in reversed(self.directories):
            while True:
                try:
                    os.rmdir(directory)
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                        self.notes.append(f"cgroup {directory} could not be removed ({exc.strerror})")
                        break
                    self.kill()
                    time.sleep(0.005)
