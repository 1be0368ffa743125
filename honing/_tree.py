"""The candidate lineage as Graphviz DOT or as a static HTML page.

Both are built from plain lists (candidates, parents, scores, frontier
members) so a stored result renders the same as a live one. Candidate text is
untrusted (an LM wrote it): DOT labels are escaped and show only the index
and score; the HTML page escapes everything and carries no script.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any


def _label_score(score: float | None) -> str:
    if score is None or not math.isfinite(score):
        return "not scored"
    return f"{score:.4g}"


def candidate_tree_dot(parents: Sequence[Sequence[int | None]], scores: Sequence[float | None],
                       best_idx: int | None, front: set[int]) -> str:
    """A DOT digraph: one box per candidate (index and score), an edge from each parent."""
    lines = ["digraph candidates {", "  rankdir=TB;", "  node [shape=box, style=filled, fillcolor=white];"]
    for i, score in enumerate(scores):
        color = "gold" if i == best_idx else ("lightblue" if i in front else "white")
        lines.append(f'  c{i} [label="#{i}\\n{_label_score(score)}", fillcolor={color}];')
    for child, ps in enumerate(parents):
        for parent in ps:
            if parent is not None:
                lines.append(f"  c{parent} -> c{child};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def candidate_tree_html(candidates: Sequence[Any], parents: Sequence[Sequence[int | None]],
                        scores: Sequence[float | None], best_idx: int | None, front: set[int]) -> str:
    """A self-contained page: the lineage as nested lists, each candidate's text folded under it."""
    children: dict[int | None, list[int]] = {}
    for child, ps in enumerate(parents):
        real = [p for p in ps if p is not None]
        children.setdefault(real[0] if real else None, []).append(child)
    seen: set[int] = set()

    def node(i: int) -> str:
        if i in seen:  # a merge child is listed under its first parent only
            return ""
        seen.add(i)
        marks = (" (best)" if i == best_idx else "") + (" (frontier)" if i in front else "")
        others = [p for p in parents[i] if p is not None][1:]
        merged = f" merged with #{', #'.join(str(p) for p in others)}" if others else ""
        text = candidates[i] if isinstance(candidates[i], str) else "\n\n".join(
            f"[{name}]\n{value}" for name, value in dict(candidates[i]).items())
        below = "".join(node(c) for c in children.get(i, []))
        return (f"<li><details><summary>#{i}: {html.escape(_label_score(scores[i]))}{marks}{html.escape(merged)}"
                f"</summary><pre>{html.escape(str(text))}</pre></details>"
                + (f"<ul>{below}</ul>" if below else "") + "</li>")

    roots = "".join(node(r) for r in children.get(None, []))
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>Candidate tree</title>"
            "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; style-src 'unsafe-inline'\">"
            "<style>body{font-family:sans-serif} pre{white-space:pre-wrap;background:#f6f6f6;padding:6px}"
            "</style></head><body><h1>Candidate tree</h1><ul>" + roots + "</ul></body></html>\n")
