"""``honing run``: an optimization from files, no Python to write beyond the evaluator.

    honing run prompt.txt --evaluator scoring.py:evaluate --dataset train.jsonl --config honing.toml

* the seed: a text file (the evaluator gets a str), or a ``.json`` file
  holding an object of named texts (the evaluator gets a dict); left out,
  the reflection LM writes the first candidate from ``objective``;
* ``--evaluator``: ``package.module:function`` (imported from the current
  directory) or ``path/to/file.py:function``;
* ``--dataset`` / ``--valset``: a JSON list or JSON Lines, one example each;
* ``--config``: TOML whose tables are ``honing.Config``'s sections with the
  same field names (``[engine]``, ``[reflection]``, ``[tracking]``,
  ``[merge]``, ``[refiner]``); top-level keys may name the seed, evaluator,
  dataset, valset (paths relative to the TOML file), objective and background.

Flags override the TOML file. The run is stored like any other
(``[engine] run_dir`` or ``--run-dir``); the same command with the same run
directory resumes it. The best candidate goes to stdout (or ``--output``),
everything else to stderr, so ``honing run ... > best.txt`` works.
"""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._files import FileError, load_config_file, load_evaluator, load_examples, load_seed

if TYPE_CHECKING:
    from ._config import Config

log = logging.getLogger("honing.cli")

TOP_LEVEL = ("seed", "evaluator", "dataset", "valset", "objective", "background")


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("seed", nargs="?", default=None,
                        help="the seed candidate: a text file, or a .json object of named texts")
    parser.add_argument("-e", "--evaluator", help="module:function or path/to/file.py:function")
    parser.add_argument("-c", "--config", help="a TOML file with [engine], [reflection], ... tables")
    parser.add_argument("--dataset", help="training examples: a JSON list or a JSON Lines file")
    parser.add_argument("--valset", help="validation examples (JSON or JSON Lines); needs --dataset")
    parser.add_argument("--objective", help="what to optimize for, in words")
    parser.add_argument("--background", help="domain knowledge for the reflection LM")
    parser.add_argument("--budget", type=int, help="evaluator calls (EngineConfig.max_metric_calls)")
    parser.add_argument("--reflection-lm", help="the reflection model (ReflectionConfig.reflection_lm)")
    parser.add_argument("--run-dir", help="where the run is stored; an existing run there is resumed")
    parser.add_argument("--force", action="store_true",
                        help="resume the run dir even if another process seems to be writing it "
                             "(EngineConfig.takeover)")
    parser.add_argument("-o", "--output", help="write the best candidate to this file instead of stdout")


def _settings(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, dict[str, Any]], Path]:
    """The run's top-level settings and config tables: the TOML file, then the flags over it."""
    top: dict[str, Any] = {}
    tables: dict[str, dict[str, Any]] = {}
    base = Path.cwd()
    if args.config:
        path = Path(args.config)
        document = load_config_file(path)
        base = path.resolve().parent
        for key, value in document.items():
            if isinstance(value, dict):
                tables[key] = dict(value)
            elif key in TOP_LEVEL:
                top[key] = value
            else:
                close = difflib.get_close_matches(key, TOP_LEVEL, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f" (top-level keys: {', '.join(TOP_LEVEL)})"
                raise FileError(f"{path}: unknown top-level key {key!r}{hint}")
        for key in ("seed", "evaluator", "dataset", "valset"):  # paths in the file are relative to it
            if isinstance(top.get(key), str) and key != "evaluator":
                top[key] = str(base / top[key])
    for key in TOP_LEVEL:
        value = getattr(args, key, None)
        if value is not None:
            top[key] = value
    engine = tables.setdefault("engine", {})
    if args.budget is not None:
        engine["max_metric_calls"] = args.budget
    if args.run_dir is not None:
        engine["run_dir"] = args.run_dir
    if getattr(args, "force", False):
        engine["takeover"] = True
    if args.reflection_lm is not None:
        tables.setdefault("reflection", {})["reflection_lm"] = args.reflection_lm
    return top, tables, base


def build_config(tables: dict[str, dict[str, Any]], source: str = "the config") -> Config:
    """``honing.Config`` from TOML tables named like its sections (unknown names get a hint)."""
    from ._config import Config, EngineConfig, MergeConfig, RefinerConfig, ReflectionConfig, TrackingConfig

    sections = {"engine": EngineConfig, "reflection": ReflectionConfig, "tracking": TrackingConfig,
                "merge": MergeConfig, "refiner": RefinerConfig}
    built: dict[str, Any] = {}
    for name, table in tables.items():
        kind = sections.get(name)
        if kind is None:
            close = difflib.get_close_matches(name, list(sections), n=1)
            hint = f"; did you mean [{close[0]}]?" if close else f" (tables: {', '.join(sections)})"
            raise FileError(f"{source}: unknown table [{name}]{hint}")
        built[name] = kind(**table)
    return Config(**built)


def run_command(args: argparse.Namespace) -> int:
    from ._config import ConfigError

    try:
        top, tables, base = _settings(args)
        if not top.get("evaluator"):
            raise FileError("no evaluator: pass --evaluator module:function (or evaluator = \"...\" in the TOML)")
        config = build_config(tables, args.config or "the config")
        evaluator = load_evaluator(top["evaluator"], base)
        seed = load_seed(top["seed"]) if top.get("seed") else None
        dataset = load_examples(top["dataset"]) if top.get("dataset") else None
        valset = load_examples(top["valset"]) if top.get("valset") else None
    except (FileError, ConfigError) as exc:
        log.error("%s", exc)
        return 2
    from ._api import optimize_anything
    from .store import StoreError

    try:
        result = optimize_anything(seed, evaluator, dataset=dataset, valset=valset, objective=top.get("objective"),
                                   background=top.get("background"), config=config)
    except (ConfigError, StoreError, TypeError, ValueError) as exc:  # input checks, an unusable run dir: one line
        log.error("%s", exc)
        log.debug("where it was raised:", exc_info=True)  # shown with -v
        return 2
    best = result.best_candidate
    text = best if isinstance(best, str) else json.dumps(best, indent=2, ensure_ascii=False)
    if args.output:
        Path(args.output).write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")
        log.info("best candidate written to %s", args.output)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()
    return 0
