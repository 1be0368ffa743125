"""Caller side: which host paths the sandbox shows, and the child's ``sys.path``.

The interpreter's installation (its prefix: binary, shared library, standard library,
site-packages) is shown read-only; ``.pth`` path entries only when they lie inside it,
because an editable install points at a project directory, and a project directory holds
exactly what candidates must not read (the run store, the datasets, ``.env``). The
``.pth`` ``import`` lines are handed to the child, which runs them lazily.
"""

from __future__ import annotations

import os
import site
import stat
import sys
import sysconfig
import threading
from dataclasses import dataclass
from typing import Any

__all__ = ["InterpreterView", "check_device", "check_readable", "interpreter_view"]


@dataclass(frozen=True)
class InterpreterView:
    paths: tuple[str, ...]  # bound read-only, shortest first
    site_paths: tuple[str, ...]  # appended to the child's sys.path
    pth_lines: tuple[str, ...]  # ``import`` lines of .pth files, run on the first missed import


_lock = threading.Lock()
_cache: dict[tuple[Any, ...], InterpreterView] = {}


def _looks_like_prefix(path: str) -> bool:
    """A Python installation or venv, not an arbitrary directory such as a home directory."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return (os.path.isfile(os.path.join(path, "pyvenv.cfg"))
            or os.path.isdir(os.path.join(path, "lib", version))
            or os.path.isfile(os.path.join(path, "python.exe")))


def _inside(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def _site_dirs() -> list[str]:
    dirs = [os.path.realpath(d) for d in site.getsitepackages() if os.path.isdir(d)]
    return list(dict.fromkeys(dirs))


def _compute(site_dirs: list[str]) -> InterpreterView:
    roots: list[str] = []
    candidates = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    for prefix in dict.fromkeys(os.path.realpath(p) for p in candidates):
        if prefix != "/" and _looks_like_prefix(prefix):
            roots.append(prefix)
    extra = [os.path.dirname(os.path.realpath(sys.executable))]
    extra += [os.path.realpath(p) for p in (sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib")) if p]
    extra += site_dirs
    for path in extra:
        if path != "/" and os.path.isdir(path) and not _inside(path, roots + ["/usr"]):
            roots.append(path)
    site_paths: list[str] = []
    pth_lines: list[str] = []
    for sitedir in site_dirs:
        site_paths.append(sitedir)
        try:
            names = sorted(n for n in os.listdir(sitedir) if n.endswith(".pth") and not n.startswith("."))
        except OSError:
            continue
        for name in names:
            try:
                with open(os.path.join(sitedir, name), encoding="utf-8") as fh:
                    lines = fh.read().splitlines()
            except (OSError, UnicodeDecodeError):
                continue
            for line in lines:
                if not line.strip() or line.startswith("#"):
                    continue
                if line.startswith(("import ", "import\t")):
                    pth_lines.append(line)
                    continue
                path = os.path.realpath(os.path.join(sitedir, line.rstrip()))
                if os.path.isdir(path) and _inside(path, roots + ["/usr"]) and path not in site_paths:
                    site_paths.append(path)
    roots.sort(key=len)
    return InterpreterView(tuple(roots), tuple(site_paths), tuple(pth_lines))


def interpreter_view() -> InterpreterView:
    """What of the interpreter the child sees; recomputed when a site-packages directory changes."""
    dirs = _site_dirs()
    key = tuple((d, _mtime(d)) for d in dirs)
    with _lock:
        view = _cache.get(key)
        if view is None:
            _cache.clear()
            view = _cache[key] = _compute(dirs)
    return view


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def check_readable(path: str | os.PathLike[str], as_root: bool) -> tuple[str, str | None]:
    """An absolute path to show read-only, plus a note when the code will not be able to read it."""
    full = os.path.abspath(os.fspath(path))
    try:
        st = os.stat(full)
    except OSError as exc:
        raise ValueError(f"readable path {full!r} cannot be shown to the code: {exc.strerror}") from None
    if full == "/":
        raise ValueError("readable=['/'] would show the whole machine; list the directories the code needs")
    needed = 0o005 if stat.S_ISDIR(st.st_mode) else 0o004
    if as_root and st.st_mode & needed != needed:
        return full, (f"{full} is not readable by other users (mode {stat.S_IMODE(st.st_mode):o}); the code "
                      "runs as a throwaway uid and cannot read it: chmod o+r it or copy it in with files=")
    return full, None


def check_device(path: str | os.PathLike[str]) -> str:
    full = os.path.abspath(os.fspath(path))
    try:
        st = os.stat(full)
    except OSError as exc:
        raise ValueError(f"device {full!r} cannot be shown to the code: {exc.strerror}") from None
    if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)) or not full.startswith("/dev/"):
        raise ValueError(f"devices= takes device files under /dev, not {full!r} (use readable= for files)")
    return full
