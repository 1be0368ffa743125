"""BENCHMARKS.md is shared by every benchmark: each ``--write`` replaces only its own ``## Title`` section.

A section runs from its title line to the next ``## `` title, so prose a person writes about a
benchmark belongs in a section of its own (``## Search: notes``), which a rerun leaves alone.
``table`` draws the Markdown tables the benchmarks print and write there; ``add_record_options``
gives a benchmark that saves its records the usual ``--out``, ``--report`` and ``--write``.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

PATH = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
RESULTS = Path(__file__).resolve().parent / "results"


def write_section(title: str, body: str, path: Path = PATH) -> None:
    """Replace the section titled exactly ``## {title}`` with ``body`` (appended when there is none)."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: block + "\n", text, count=1).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + block
    path.write_text(text)


def table(header: Sequence[str], rows: Iterable[Sequence[object]], align: str | None = None) -> str:
    """A Markdown table of already formatted cells.

    ``align`` has one letter a column, ``l`` (text) or ``r`` (figures); by default the first
    column is left-aligned and the others right-aligned.
    """
    align = align or "l" + "r" * (len(header) - 1)
    if len(align) != len(header):
        raise ValueError(f"align {align!r} has {len(align)} letters for {len(header)} columns")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def add_record_options(parser: argparse.ArgumentParser, name: str, section: str) -> None:
    """``--out`` (the records, default ``results/<name>.json``), ``--report`` (print the tables of a
    saved file and run nothing) and ``--write`` (update the ``## <section>`` of BENCHMARKS.md)."""
    parser.add_argument("--out", type=Path, default=RESULTS / f"{name}.json", help="where the records go")
    parser.add_argument("--report", type=Path, help="only print the tables of a saved JSON file")
    parser.add_argument("--write", action="store_true", help=f"update the {section} section of BENCHMARKS.md")
