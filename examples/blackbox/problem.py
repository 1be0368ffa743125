"""Test functions for the black-box example, and the suite they form.

Standard library only: this file is also sent, as text, into the sandbox where
candidates run (see ``evaluator.py``) and imported by the GEPA side of
``bench/quality.py``, whose interpreter has no NumPy.

Every problem is a classic function ``g`` *shifted* by a fixed offset ``o``
(``f(x) = g(x - o)``, the usual trick of the CEC benchmark suites), so the
minimizer is not the centre of the box and a candidate cannot win by returning
a point it guessed instead of one it searched for. The offsets come from a
seeded generator and keep the minimizer inside the bounds.
"""

from __future__ import annotations

import math
import random

# ---- the classic functions (unshifted), each with its minimizer and minimum ----------------


def sphere(x):
    return sum(v * v for v in x)


def ackley(x):
    d = len(x)
    s1 = sum(v * v for v in x) / d
    s2 = sum(math.cos(2 * math.pi * v) for v in x) / d
    return -20.0 * math.exp(-0.2 * math.sqrt(s1)) - math.exp(s2) + 20.0 + math.e


def rosenbrock(x):
    return sum(100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(len(x) - 1))


def rastrigin(x):
    return 10.0 * len(x) + sum(v * v - 10.0 * math.cos(2 * math.pi * v) for v in x)


def griewank(x):
    s = sum(v * v for v in x) / 4000.0
    p = 1.0
    for i, v in enumerate(x):
        p *= math.cos(v / math.sqrt(i + 1))
    return s - p + 1.0


def levy(x):
    w = [1 + (v - 1) / 4 for v in x]
    head = math.sin(math.pi * w[0]) ** 2
    body = sum((wi - 1) ** 2 * (1 + 10 * math.sin(math.pi * wi + 1) ** 2) for wi in w[:-1])
    tail = (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)
    return head + body + tail


def styblinski_tang(x):
    return sum(v ** 4 - 16 * v * v + 5 * v for v in x) / 2.0


def six_hump_camel(x):
    a, b = x[0], x[1]
    return (4 - 2.1 * a * a + a ** 4 / 3) * a * a + a * b + (-4 + 4 * b * b) * b * b


_ST_ARGMIN = -2.903534027771178
_CAMEL_ARGMIN = (0.08984201368301331, -0.7126564032704135)

# name -> (function, bounds per coordinate, minimizer for dimension d, minimum for dimension d)
FUNCTIONS = {
    "sphere": (sphere, (-5.12, 5.12), lambda d: [0.0] * d, lambda d: 0.0),
    "ackley": (ackley, (-32.768, 32.768), lambda d: [0.0] * d, lambda d: 0.0),
    "rosenbrock": (rosenbrock, (-5.0, 10.0), lambda d: [1.0] * d, lambda d: 0.0),
    "rastrigin": (rastrigin, (-5.12, 5.12), lambda d: [0.0] * d, lambda d: 0.0),
    "griewank": (griewank, (-600.0, 600.0), lambda d: [0.0] * d, lambda d: 0.0),
    "levy": (levy, (-10.0, 10.0), lambda d: [1.0] * d, lambda d: 0.0),
    "styblinski_tang": (styblinski_tang, (-5.0, 5.0), lambda d: [_ST_ARGMIN] * d,
                        lambda d: styblinski_tang([_ST_ARGMIN] * d)),
    "six_hump_camel": (six_hump_camel, (-3.0, 3.0), lambda d: list(_CAMEL_ARGMIN),
                       lambda d: six_hump_camel(list(_CAMEL_ARGMIN))),
}

# (function, dimension) pairs of the default suite.
SUITE = (
    ("sphere", 5), ("ackley", 2), ("ackley", 10), ("rosenbrock", 2), ("rosenbrock", 6),
    ("rastrigin", 2), ("rastrigin", 5), ("griewank", 4), ("levy", 4), ("styblinski_tang", 3),
    ("six_hump_camel", 2),
)


class Problem:
    """One shifted test function in a given dimension."""

    def __init__(self, name: str, dim: int, shift_seed: int = 0) -> None:
        func, (lo, hi), argmin, minimum = FUNCTIONS[name]
        self.name, self.dim, self.func = name, dim, func
        self.key = f"{name}-{dim}d"
        self.bounds = [(lo, hi)] * dim
        rng = random.Random(f"{self.key}/{shift_seed}")
        base = argmin(dim)
        # Offsets of up to 15% of the box width, clipped so the minimizer stays inside.
        self.shift = [min(max(rng.uniform(-0.15, 0.15) * (hi - lo), lo - b + 1e-9), hi - b - 1e-9) for b in base]
        self.argmin = [b + o for b, o in zip(base, self.shift)]
        self.minimum = float(minimum(dim))

    def __call__(self, x) -> float:
        return float(self.func([float(v) - o for v, o in zip(x, self.shift)]))

    def in_bounds(self, x, tol: float = 1e-9) -> bool:
        return len(x) == self.dim and all(lo - tol <= float(v) <= hi + tol for v, (lo, hi) in zip(x, self.bounds))

    def gap(self, x) -> float:
        """How far above the known minimum ``x`` is (>= 0 up to rounding)."""
        return max(0.0, self(x) - self.minimum)

    def typical_gap(self, samples: int = 256) -> float:
        """Median gap of uniformly random points: what 'no search at all' achieves."""
        rng = random.Random(f"typical/{self.key}")
        gaps = sorted(self.gap([rng.uniform(lo, hi) for lo, hi in self.bounds]) for _ in range(samples))
        return gaps[samples // 2]


def suite(shift_seed: int = 0) -> list[Problem]:
    return [Problem(name, dim, shift_seed) for name, dim in SUITE]
