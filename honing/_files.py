"""Reading a run's inputs from files: seed, evaluator, examples and TOML config.

Every failure names the file (and line, for JSON Lines) and what to change;
none of it runs code except the evaluator module the user names.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._errors import HoningError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10 reads TOML with the tomli backport (a dependency there)
    import tomli as tomllib


class FileError(HoningError, ValueError):
    """An input file is missing, unreadable or malformed."""


def _read(path: str | Path, what: str) -> str:
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileError(f"{what} file {path} does not exist") from None
    except IsADirectoryError:
        raise FileError(f"{what} file {path} is a directory; name a file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FileError(f"cannot read {what} file {path}: {exc}") from exc


def load_seed(path: str | Path) -> str | dict[str, str]:
    """A text file is the candidate; a ``.json`` file must hold an object of named texts."""
    text = _read(path, "seed")
    if Path(path).suffix.lower() != ".json":
        return text
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise FileError(f"seed file {path} is not valid JSON ({exc}); a .json seed is an object of named texts, "
                        "any other extension is read as plain text") from exc
    if not isinstance(value, dict) or not value or not all(isinstance(v, str) for v in value.values()):
        raise FileError(f"seed file {path} must hold a JSON object mapping component names to texts, "
                        'e.g. {"system_prompt": "...", "instructions": "..."}')
    return value


def load_examples(path: str | Path) -> list[Any]:
    """A JSON list, or JSON Lines (one example per non-blank line)."""
    text = _read(path, "examples")
    stripped = text.lstrip()
    if Path(path).suffix.lower() == ".json" or stripped.startswith("["):
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise FileError(f"examples file {path} is not valid JSON: {exc}") from exc
        if not isinstance(value, list):
            raise FileError(f"examples file {path} must hold a JSON list of examples, got {type(value).__name__}")
        examples = value
    else:
        examples = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                examples.append(json.loads(line))
            except ValueError as exc:
                raise FileError(f"{path}, line {number}: not valid JSON ({exc}); a JSON Lines file holds one "
                                "JSON value per line") from exc
    if not examples:
        raise FileError(f"examples file {path} holds no examples")
    return examples


def load_evaluator(spec: str, base: Path | None = None) -> Callable[..., Any]:
    """``package.module:function`` from the current directory, or ``path/to/file.py:function``."""
    if not isinstance(spec, str) or spec.count(":") < 1:
        raise FileError(f"evaluator {spec!r} must look like module:function or path/to/file.py:function")
    module_part, _, name = spec.rpartition(":")
    if not module_part or not name.isidentifier():
        raise FileError(f"evaluator {spec!r} must look like module:function or path/to/file.py:function")
    if module_part.endswith(".py") or "/" in module_part or "\\" in module_part:
        path = Path(module_part)
        if not path.is_absolute() and base is not None and not path.exists():
            path = base / path
        if not path.is_file():
            raise FileError(f"evaluator file {path} does not exist")
        folder, module_name = str(path.resolve().parent), path.stem
    else:
        folder, module_name = str(Path.cwd()), module_part
    # The module is imported by name from a folder on sys.path (not executed from a path) so that
    # process and Ray workers can import it again: worker processes inherit this sys.path.
    if folder not in sys.path:
        sys.path.insert(0, folder)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise FileError(f"no module {module_name!r} in {folder} or on the Python path "
                            f"(evaluator {spec!r})") from exc
        raise  # the module itself imports something missing: the user's traceback says what
    function: object = getattr(module, name, None)
    if function is None:
        public = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        raise FileError(f"module {module_name!r} has no {name!r}; callables there: {', '.join(public) or 'none'}")
    if not callable(function):
        raise FileError(f"{spec} is a {type(function).__name__}, not a function")
    return function


def load_config_file(path: str | Path) -> dict[str, Any]:
    text = _read(path, "config")
    try:
        tables: dict[str, Any] = tomllib.loads(text)
        return tables
    except tomllib.TOMLDecodeError as exc:
        raise FileError(f"config file {path} is not valid TOML: {exc}") from exc
