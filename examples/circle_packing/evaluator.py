"""Scorer for the circle-packing example: 26 circles in the unit square, maximize the sum of radii.

The candidate is Python source defining ``pack()`` that returns 26 circles as
``(x, y, r)`` triples. It runs in ``honing.run_code``'s sandbox; the circles it
returns are then checked *here*, in the caller, by :func:`validate` with a fixed
tolerance. Whatever the candidate prints or claims about its own score is
ignored: the score is the sum of radii of a layout that passed the check, and 0.0
for any layout that did not.

This module uses only the standard library (the GEPA side of ``bench/quality.py``
imports it from an interpreter without NumPy).
"""

from __future__ import annotations

import math
from typing import Any

N_CIRCLES = 26
TOLERANCE = 1e-9  # allowed overlap and boundary overshoot
MAX_LISTED = 8  # violations spelled out in the side information

# The seed layout: one circle in the middle, a ring of 6 around it and 19 on an
# outer ring that is pushed into the square; each radius is the largest the
# square's walls allow, then shrunk pairwise until no two circles overlap.
# Scores about 0.985.
SEED = '''import math


def pack():
    """Return 26 circles (x, y, r) inside the unit square, without overlaps."""
    centers = [(0.5, 0.5)]
    for k in range(6):
        a = 2 * math.pi * k / 6
        centers.append((0.5 + 0.25 * math.cos(a), 0.5 + 0.25 * math.sin(a)))
    for k in range(19):
        a = 2 * math.pi * k / 19
        centers.append((0.5 + 0.6 * math.cos(a), 0.5 + 0.6 * math.sin(a)))
    centers = [(min(max(x, 0.01), 0.99), min(max(y, 0.01), 0.99)) for x, y in centers]
    radii = [min(x, y, 1 - x, 1 - y) for x, y in centers]
    for i in range(len(centers)):
        for j in range(i + 1, len(centers)):
            d = math.dist(centers[i], centers[j])
            if radii[i] + radii[j] > d:
                shrink = d / (radii[i] + radii[j])
                radii[i] *= shrink
                radii[j] *= shrink
    return [(x, y, r) for (x, y), r in zip(centers, radii)]
'''

OBJECTIVE = (
    f"Maximize the sum of the radii of {N_CIRCLES} non-overlapping circles packed inside the unit square."
)
BACKGROUND = (
    f"The candidate is Python source defining pack() -> list of {N_CIRCLES} (x, y, r) tuples (NumPy is "
    "available). Every circle must lie inside [0, 1] x [0, 1] (x - r >= 0, x + r <= 1, same for y) and no two "
    f"circles may overlap (distance between centres >= r1 + r2), with a tolerance of {TOLERANCE:g}. An invalid "
    "layout scores 0. The best known packings reach a sum of about 2.63: they use circles of different sizes, "
    "larger ones in the interior and smaller ones filling the corners and edges. Useful techniques: a good "
    "initial layout (hexagonal or grid-like), then optimizing centres and radii together (e.g. scipy-free "
    "gradient steps or a linear program on radii for fixed centres), and finally shrinking radii slightly so "
    "that every constraint holds. pack() must finish within the time limit."
)


class InvalidLayout(ValueError):
    """The returned value is not a list of (x, y, r) triples."""


def as_circles(value: Any) -> list[tuple[float, float, float]]:
    """Turn what ``pack()`` returned (list, tuple or NumPy array of triples) into float triples."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, dict) and "circles" in value:
        value = value["circles"]
        if hasattr(value, "tolist"):
            value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise InvalidLayout(f"pack() must return a list of (x, y, r) triples, got {type(value).__name__}")
    circles = []
    for i, item in enumerate(value):
        if hasattr(item, "tolist"):
            item = item.tolist()
        if not isinstance(item, (list, tuple)) or len(item) != 3:
            raise InvalidLayout(f"circle {i} is {item!r:.80}, not an (x, y, r) triple")
        try:
            circles.append(tuple(float(v) for v in item))
        except (TypeError, ValueError):
            raise InvalidLayout(f"circle {i} has a non-numeric entry: {item!r:.80}") from None
    return circles


def validate(circles: list[tuple[float, float, float]], n: int = N_CIRCLES,
             tol: float = TOLERANCE) -> tuple[bool, float, list[str]]:
    """Check a layout independently of whoever made it.

    Returns ``(valid, sum_of_radii, problems)``; ``problems`` lists every
    violation, worst first within each kind, each naming the circles and the amount.
    """
    problems: list[str] = []
    if len(circles) != n:
        problems.append(f"expected {n} circles, got {len(circles)}")
    bad_numbers = [i for i, c in enumerate(circles) if not all(math.isfinite(v) for v in c)]
    problems += [f"circle {i} has a non-finite value {circles[i]}" for i in bad_numbers]
    negative = [i for i, (_, _, r) in enumerate(circles) if i not in bad_numbers and r < 0]
    problems += [f"circle {i} has a negative radius {circles[i][2]:.6g}" for i in negative]
    usable = [i for i in range(len(circles)) if i not in bad_numbers]

    boundary = []
    for i in usable:
        x, y, r = circles[i]
        for side, excess in (("left (x - r < 0)", r - x), ("right (x + r > 1)", x + r - 1),
                             ("bottom (y - r < 0)", r - y), ("top (y + r > 1)", y + r - 1)):
            if excess > tol:
                boundary.append((excess, f"circle {i} at ({x:.4f}, {y:.4f}) r={r:.4f} crosses the "
                                         f"{side} wall by {excess:.3g}"))
    overlaps = []
    for a in range(len(usable)):
        i = usable[a]
        xi, yi, ri = circles[i]
        for j in usable[a + 1:]:
            xj, yj, rj = circles[j]
            depth = ri + rj - math.hypot(xi - xj, yi - yj)
            if depth > tol:
                overlaps.append((depth, f"circles {i} and {j} overlap by {depth:.3g} (r={ri:.4f} and "
                                        f"r={rj:.4f}, centres {math.hypot(xi - xj, yi - yj):.4f} apart)"))
    problems += [text for _, text in sorted(boundary, reverse=True)]
    problems += [text for _, text in sorted(overlaps, reverse=True)]
    total = sum(c[2] for i, c in enumerate(circles) if i not in bad_numbers)
    return not problems, total, problems


def evaluate(candidate: str, timeout: float = 30.0) -> tuple[float, dict[str, Any]]:
    """Run ``pack()`` in the sandbox and score the circles it returns."""
    from honing import run_code

    result = run_code(candidate, entry_point="pack", timeout=timeout, memory_mb=1024)
    if not result.ok:
        return 0.0, {"error": result.feedback(2000)}
    info: dict[str, Any] = {}
    if result.stdout.strip():
        info["stdout"] = result.stdout[-1500:]
    try:
        circles = as_circles(result.value)
    except InvalidLayout as exc:
        return 0.0, {**info, "error": str(exc)}
    valid, total, problems = validate(circles)
    if not valid:
        shown = problems[:MAX_LISTED]
        more = len(problems) - len(shown)
        return 0.0, {
            **info,
            "verdict": f"INVALID layout (would sum to {total:.4f}); score 0. {len(problems)} violation(s)"
                       f" at tolerance {TOLERANCE:g}",
            "violations": shown + ([f"... and {more} more"] if more > 0 else []),
        }
    radii = sorted(c[2] for c in circles)
    return total, {
        **info,
        "verdict": f"valid layout, sum of radii {total:.6f}",
        "radii": f"smallest {radii[0]:.4f}, median {radii[len(radii) // 2]:.4f}, largest {radii[-1]:.4f}",
        "circles": [tuple(round(v, 4) for v in c) for c in circles],
    }


def random_restarts(restarts: int = 200, seed: int = 0) -> float:
    """A plain baseline: random centres, radii from the same wall/pairwise limits as the seed; best of N."""
    import random

    rng = random.Random(seed)
    best = 0.0
    for _ in range(restarts):
        centers = [(rng.uniform(0.05, 0.95), rng.uniform(0.05, 0.95)) for _ in range(N_CIRCLES)]
        radii = [min(x, y, 1 - x, 1 - y) for x, y in centers]
        for i in range(N_CIRCLES):
            for j in range(i + 1, N_CIRCLES):
                d = math.dist(centers[i], centers[j])
                if radii[i] + radii[j] > d:
                    shrink = d / (radii[i] + radii[j])
                    radii[i] *= shrink
                    radii[j] *= shrink
        circles = [(x, y, r) for (x, y), r in zip(centers, radii)]
        valid, total, _ = validate(circles)
        if valid:
            best = max(best, total)
    return best
