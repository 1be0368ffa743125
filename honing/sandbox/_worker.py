"""Child side, last step: the process that runs the untrusted code, already confined.

It finishes the interpreter set-up that ``python -S`` skipped (site-packages on
``sys.path``, ``exit``/``quit``), runs the module and the entry point, and writes the
outcome as frames on the result pipe. Nothing it writes is trusted by the caller: the
code shares this process and can write frames too. The caller only believes them when
the trusted status channel (which this process does not hold) reports a clean exit.

Stdlib only: the child imports this file as a top-level module (the caller and tests
import it from the package).
"""

from __future__ import annotations

import builtins
import os
import struct
import sys
import types

try:  # inside the package (the caller, tests) or as top-level modules (the child)
    from . import _codec
except ImportError:
    import _codec  # type: ignore[import-not-found, no-redef]


FILENAME = "<sandbox>"
MAX_TEXT = 32 * 1024  # per error / traceback string sent back

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing and importlib.abc cost the child milliseconds to import
    import importlib.abc
    import importlib.machinery
    from collections.abc import Sequence
    from typing import Any, NoReturn

    Envelope = dict[str, Any]  # {"ok": ..., "error": ..., "traceback": ...}
    LinecacheEntry = tuple[int, None, list[str], str]


def send(fd: int, tag: bytes, payload: bytes) -> None:
    data = tag + struct.pack(">Q", len(payload)) + payload
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class _PthImports:
    """Runs the ``import`` lines of site-packages ``.pth`` files the first time an import misses.

    ``python -S`` starts in 9 ms instead of ~50 ms because it skips them (they load
    editable-install finders and similar hooks). Most code never needs them; code that does
    gets them on its first unresolved import, then the import is retried.
    """

    def __init__(self, lines: Sequence[str]) -> None:
        self.lines = lines

    def find_spec(self, name: str, path: Sequence[str] | None = None,
                  target: types.ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if self not in sys.meta_path:
            return None
        sys.meta_path.remove(self)
        for line in self.lines:
            try:
                exec(line)  # noqa: S102 - what site.py does with these lines
            except Exception:  # noqa: BLE001 - site.py reports and continues too
                pass
        for finder in list(sys.meta_path):
            find = getattr(finder, "find_spec", None)
            spec: importlib.machinery.ModuleSpec | None = find(name, path, target) if find else None
            if spec is not None:
                return spec
        return None


class _SeedLinecache:
    """Puts the code's source into ``linecache`` when something imports it.

    Tracebacks need the source of ``<sandbox>``; importing ``linecache`` up front (it pulls
    in ``tokenize`` and ``re``) would cost every call ~10 ms, so it is seeded on import.
    """

    def __init__(self, entry: LinecacheEntry) -> None:
        self.entry = entry

    def find_spec(self, name: str, path: Sequence[str] | None = None,
                  target: types.ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if name != "linecache" or self not in sys.meta_path:
            return None
        sys.meta_path.remove(self)
        finder = next((f for f in sys.meta_path if getattr(f, "__name__", "") == "PathFinder"), None)
        spec: importlib.machinery.ModuleSpec | None = finder.find_spec(name, path) if finder else None
        if spec is not None and spec.loader is not None:
            spec.loader = _SeedingLoader(spec.loader, self.entry)  # type: ignore[assignment]
        return spec


class _SeedingLoader:  # an importlib.abc.Loader by its methods
    def __init__(self, inner: importlib.abc.Loader, entry: LinecacheEntry) -> None:
        self.inner, self.entry = inner, entry

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self.inner.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        self.inner.exec_module(module)
        module.cache[FILENAME] = self.entry  # the linecache module


def finish_interpreter(site_paths: Sequence[str], pth_lines: Sequence[str], script_dir: str,
                       prefixes: tuple[str, str] | None = None) -> None:
    """What ``site`` would have done: sys.path, a venv's prefixes, ``exit``/``quit``/``help``."""
    sys.path[:] = [p for p in sys.path if p and p != script_dir] + list(site_paths)
    if prefixes:
        sys.prefix, sys.exec_prefix = prefixes
    if pth_lines:
        sys.meta_path.append(_PthImports(pth_lines))
    import _sitebuiltins

    builtins.exit = _sitebuiltins.Quitter("exit", "Ctrl-D (i.e. EOF)")
    builtins.quit = _sitebuiltins.Quitter("quit", "Ctrl-D (i.e. EOF)")
    builtins.help = _sitebuiltins._Helper()


def _clip(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_TEXT:
        return text
    return text[:MAX_TEXT // 2] + "\n[... clipped ...]\n" + text[-MAX_TEXT // 2:]


def _user_traceback(exc: BaseException) -> str:
    import traceback

    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != FILENAME:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))


def fail_envelope(error: str, tb: str | None = None) -> Envelope:
    return {"ok": False, "error": _clip(error), "traceback": _clip(tb)}


_fail = fail_envelope


def execute(code: str, entry: str | None, args: tuple[Any, ...], kwargs: dict[str, Any],
            max_result_bytes: int) -> tuple[Envelope, bytes | None, int]:
    """Run the code; returns (envelope, encoded value or None, exit status)."""
    name = "__main__" if entry is None else "__sandbox__"
    module = types.ModuleType(name)
    module.__dict__["__builtins__"] = builtins
    sys.modules[name] = module
    source: LinecacheEntry = (len(code), None, code.splitlines(True), FILENAME)
    if "linecache" in sys.modules:
        sys.modules["linecache"].cache[FILENAME] = source
    else:
        sys.meta_path.insert(0, _SeedLinecache(source))
    try:
        compiled = compile(code, FILENAME, "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = f" (line {exc.lineno})" if exc.lineno else ""
        return _fail(f"{type(exc).__name__}: {exc.msg}{where}", _user_traceback(exc)), None, 1
    except (ValueError, MemoryError, RecursionError) as exc:
        return _fail(f"{type(exc).__name__}: {exc}"), None, 1
    try:
        exec(compiled, module.__dict__)  # noqa: S102 - running the code is the point
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
        try:
            message = str(exc)
        except BaseException:  # noqa: BLE001 - a hostile __str__
            message = "<exception message could not be shown>"
        return _fail(f"{type(exc).__name__}: {message}" if message else type(exc).__name__,
                     _user_traceback(exc)), None, 1
    try:
        payload = _codec.encode(value, max_bytes=max_result_bytes)
    except _codec.EncodeError as exc:
        return _fail(f"return value is not serializable: {exc}; return JSON-like data (dict, list, str, "
                     "numbers, bytes) or NumPy arrays of numbers"), None, 1
    except BaseException as exc:  # noqa: BLE001 - e.g. a hostile __len__ or an exotic key
        return _fail(f"return value is not serializable: {type(exc).__name__}: {exc}"), None, 1
    return {"ok": True}, payload, 0


def run(job: dict[str, Any], result_fd: int, args: tuple[Any, ...], kwargs: dict[str, Any],
        arg_error: str | None) -> NoReturn:
    """Execute the job, send the frames, and end the process with the code's status."""
    if arg_error:
        envelope, value, status = _fail(arg_error), None, 1
    else:
        envelope, value, status = execute(job["code"], job["entry_point"], args, kwargs, job["max_result_bytes"])
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()  # type: ignore[union-attr]  # None (no stream) is caught below like the rest
        except BaseException:  # noqa: BLE001 - the code may have replaced or closed them
            pass
    try:
        send(result_fd, b"R", _codec.encode(envelope, max_bytes=4 * MAX_TEXT))
        if value is not None:
            send(result_fd, b"V", value)
    except OSError:
        status = status or 1
    os._exit(status & 0xFF)  # skip atexit hooks and non-daemon threads of the code
