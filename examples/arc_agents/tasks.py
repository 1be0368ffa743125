"""ARC-style grid tasks generated from seeds: a hidden rule, three demonstration pairs, one test pair.

Grids are lists of rows of colours 0-9 (0 is the background). Every rule is a deterministic
function of the input grid (its parameters, such as which colour to recolour, are drawn once per
task), so the demonstrations are always consistent with the test pair.
"""

from __future__ import annotations

import random
from collections.abc import Callable

Grid = list[list[int]]


def flip_lr(g: Grid) -> Grid:
    return [row[::-1] for row in g]


def flip_ud(g: Grid) -> Grid:
    return [list(row) for row in g[::-1]]


def transpose(g: Grid) -> Grid:
    return [list(col) for col in zip(*g)]


def rot90(g: Grid) -> Grid:
    """Clockwise quarter turn."""
    return [list(col) for col in zip(*g[::-1])]


def rot180(g: Grid) -> Grid:
    return [row[::-1] for row in g[::-1]]


def upscale2(g: Grid) -> Grid:
    return [[c for c in row for _ in range(2)] for row in g for _ in range(2)]


def gravity_down(g: Grid) -> Grid:
    """Every coloured cell falls to the bottom of its column, keeping the column's order."""
    h = len(g)
    cols = []
    for col in zip(*g):
        cells = [c for c in col if c]
        cols.append([0] * (h - len(cells)) + cells)
    return [list(row) for row in zip(*cols)]


def make_recolor(a: int, b: int) -> Callable[[Grid], Grid]:
    def recolor(g: Grid) -> Grid:
        return [[b if c == a else c for c in row] for row in g]
    return recolor


def make_fill(colour: int) -> Callable[[Grid], Grid]:
    def fill(g: Grid) -> Grid:
        return [[colour if c == 0 else c for c in row] for row in g]
    return fill


RULES = ["flip_lr", "flip_ud", "transpose", "rot90", "rot180", "upscale2", "gravity_down", "recolor", "fill"]


def random_grid(rng: random.Random, h: int, w: int, colours: list[int], density: float) -> Grid:
    return [[rng.choice(colours) if rng.random() < density else 0 for _ in range(w)] for _ in range(h)]


def make_task(rule: str, seed: int) -> dict:
    rng = random.Random(seed)
    palette = rng.sample(range(1, 10), 3)
    if rule == "recolor":
        fn = make_recolor(palette[0], rng.choice([c for c in range(1, 10) if c not in palette]))
    elif rule == "fill":
        fn = make_fill(rng.choice([c for c in range(1, 10) if c not in palette]))
    else:
        fn = globals()[rule]
    small = rule == "upscale2"
    pairs = []
    while len(pairs) < 4:
        h, w = (rng.randint(2, 3), rng.randint(2, 3)) if small else (rng.randint(3, 5), rng.randint(3, 5))
        grid = random_grid(rng, h, w, palette, rng.uniform(0.35, 0.65))
        out = fn(grid)
        if out == grid or any(p["input"] == grid for p in pairs):
            continue  # a demonstration that shows no change would hide the rule
        if rule == "recolor" and not any(palette[0] in row for row in grid):
            continue
        pairs.append({"input": grid, "output": out})
    return {"id": f"{rule}-{seed}", "rule": rule, "train": pairs[:3], "test": pairs[3]}


def make_split(split: str, count: int | None = None, seed: int = 0) -> list[dict]:
    """One task per rule (cycling when ``count`` exceeds the rules); splits use disjoint seeds."""
    offset = {"train": 100, "val": 200, "test": 300}[split] + 1000 * seed
    count = len(RULES) if count is None else count
    return [make_task(RULES[i % len(RULES)], offset + i) for i in range(count)]


def format_grid(grid: Grid) -> str:
    return "\n".join(" ".join(str(c) for c in row) for row in grid)
