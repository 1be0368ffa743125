"""Rebasing a stale child: apply its edit to the improved version of its parent.

With several proposals in flight, a reflection often returns after its
parent has already been improved by a sibling. Its child is then "parent +
my edit" when the pool already holds "parent + their edit", and judged
against the pool it usually loses, although the two edits together would
win. Like rebasing a branch, the edit is replayed on top of the newer
version with a line-based three-way merge: every hunk the child changed
relative to the parent is applied to the newer version, provided the newer
version left those lines (and the lines around them) as they were. If any
hunk conflicts, there is no rebase and the child is judged as written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from difflib import SequenceMatcher


def merge3(base: str, ours: str, theirs: str) -> str | None:
    """``ours`` with the changes ``base -> theirs`` applied, or None if they touch the same lines."""
    if theirs == base:
        return ours
    if ours == base:
        return theirs
    base_lines = base.splitlines(keepends=True)
    ours_lines = ours.splitlines(keepends=True)
    theirs_lines = theirs.splitlines(keepends=True)
    where = _line_map(base_lines, ours_lines)  # base line index -> ours line index, for unchanged lines
    hunks = [op for op in _matcher(base_lines, theirs_lines).get_opcodes()
             if op[0] != "equal"]
    merged = list(ours_lines)
    for _, i1, i2, j1, j2 in reversed(hunks):
        # the lines the hunk replaces (for an insertion: its two neighbours) must be untouched in ours
        span = range(i1, i2) if i1 < i2 else range(max(0, i1 - 1), min(len(base_lines), i1 + 1))
        if any(i not in where for i in span):
            return None
        if any(where[i + 1] != where[i] + 1 for i in span if i + 1 in span):
            return None  # ours inserted lines inside the span
        if i1 < i2:
            start, end = where[i1], where[i2 - 1] + 1
        else:  # a pure insertion before base line i1
            start = end = where[i1] if i1 < len(base_lines) else len(ours_lines)
        merged[start:end] = theirs_lines[j1:j2]
    return "".join(merged)


def _line_map(a: list[str], b: list[str]) -> dict[int, int]:
    found: dict[int, int] = {}
    for tag, i1, i2, j1, _ in _matcher(a, b).get_opcodes():
        if tag == "equal":
            for k in range(i2 - i1):
                found[i1 + k] = j1 + k
    return found


def rebase(parent: Mapping[str, str], newer: Mapping[str, str], child: Mapping[str, str]) -> dict[str, str] | None:
    """The child's changes (relative to ``parent``) applied to ``newer``, component by component.

    None when a change conflicts with ``newer``'s, or when the components differ in name.
    """
    if set(parent) != set(newer) or set(parent) != set(child):
        return None
    out = {}
    for name in parent:
        merged = merge3(parent[name], newer[name], child[name])
        if merged is None:
            return None
        out[name] = merged
    return out


def _matcher(a: list[str], b: list[str]) -> SequenceMatcher[str]:
    """difflib's matcher, imported on the first rebase (most runs never rebase)."""
    from difflib import SequenceMatcher

    return SequenceMatcher(None, a, b, autojunk=False)
