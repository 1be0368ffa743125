"""BENCHMARKS.md is shared by every benchmark: each ``--write`` replaces only its own ``## Title`` section.

A section runs from its title line to the next ``## `` title, so prose a person writes about a
benchmark belongs in a section of its own (``## Search: notes``), which a rerun leaves alone.
"""

from __future__ import annotations

import re
from pathlib import Path

PATH = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"


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
