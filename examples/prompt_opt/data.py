"""Arithmetic word problems with integer answers, generated deterministically.

``python examples/prompt_opt/data.py`` rewrites ``problems.json`` (60 problems: 20 train,
20 val, 20 test); ``load()`` reads the shipped file. Each problem carries a short worked
solution, shown to the reflection LM for training examples only.
"""

from __future__ import annotations

import json
import math
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
PATH = os.path.join(HERE, "problems.json")


def _crates(r: random.Random):
    a, b = r.randint(6, 25), r.randint(6, 15)
    c = r.randint(10, a * b - 5)
    return (f"A farmer packs {a} crates with {b} apples in each crate. He sells {c} apples at the market. "
            "How many apples does he have left?", a * b - c, f"{a} x {b} = {a * b}; {a * b} - {c} = {a * b - c}")


def _reading(r: random.Random):
    a, b, c = r.randint(12, 40), r.randint(3, 9), r.randint(5, 30)
    return (f"Maria reads {a} pages every day for {b} days, and then {c} more pages on the following day. "
            "How many pages has she read in total?", a * b + c, f"{a} x {b} = {a * b}; {a * b} + {c} = {a * b + c}")


def _bus(r: random.Random):
    while True:
        a, b, c = r.randint(20, 60), r.randint(3, 15), r.randint(2, 20)
        if (a - b + c) % 2 == 0:
            break
    mid = a - b + c
    return (f"A bus leaves the depot with {a} passengers. At the first stop {b} passengers get off and {c} get on. "
            "At the second stop, half of the passengers get off. How many passengers are still on the bus?",
            mid // 2, f"{a} - {b} + {c} = {mid}; {mid} / 2 = {mid // 2}")


def _change(r: random.Random):
    a, b = r.randint(3, 12), r.randint(2, 9)
    c = r.choice([50, 100]) if a * b < 50 else 100
    if a * b >= c:
        a = 5
    return (f"Tom buys {a} notebooks that cost ${b} each and pays with a ${c} bill. How many dollars of change "
            "does he get?", c - a * b, f"{a} x {b} = {a * b}; {c} - {a * b} = {c - a * b}")


def _markers(r: random.Random):
    b, groups, c = r.randint(3, 6), r.randint(4, 10), r.randint(2, 7)
    a = b * groups
    return (f"A teacher splits {a} students into groups of {b}. Each group receives {c} boxes of markers. "
            "How many boxes of markers are handed out?", groups * c,
            f"{a} / {b} = {groups}; {groups} x {c} = {groups * c}")


def _tank(r: random.Random):
    a, b, c, d = r.randint(200, 500), r.randint(5, 20), r.randint(3, 9), r.randint(20, 90)
    left = a - b * c + d
    return (f"A water tank holds {a} liters. It leaks {b} liters per hour for {c} hours, and then {d} liters are "
            "added. How many liters are in the tank now?", left,
            f"{b} x {c} = {b * c}; {a} - {b * c} = {a - b * c}; + {d} = {left}")


def _sum_difference(r: random.Random):
    big, small = r.randint(30, 120), r.randint(5, 29)
    s, d = big + small, big - small
    return (f"The sum of two numbers is {s} and their difference is {d}. What is the larger number?", big,
            f"larger = ({s} + {d}) / 2 = {big}")


def _packs(r: random.Random):
    a = r.randint(6, 15)
    b = a * r.randint(4, 12) + r.randint(1, a - 1)
    packs = math.ceil(b / a)
    return (f"Pens are sold only in packs of {a}. What is the smallest number of packs needed to get at least "
            f"{b} pens?", packs, f"{b} / {a} = {b / a:.2f}, rounded up to {packs}")


def _leftover(r: random.Random):
    b = r.randint(4, 11)
    a = b * r.randint(5, 15) + r.randint(1, b - 1)
    return (f"{a} candies are shared equally among {b} children, each child getting as many as possible. "
            "How many candies are left over?", a % b, f"{a} = {b} x {a // b} + {a % b}")


def _wages(r: random.Random):
    a, b, c, d = r.randint(8, 20), r.randint(4, 8), r.randint(3, 6), r.randint(15, 60)
    total = a * b * c - d
    return (f"Lena earns ${a} per hour. She works {b} hours a day for {c} days and then spends ${d} on a gift. "
            "How many dollars does she have left from her earnings?", total,
            f"{a} x {b} x {c} = {a * b * c}; {a * b * c} - {d} = {total}")


TEMPLATES = [_crates, _reading, _bus, _change, _markers, _tank, _sum_difference, _packs, _leftover, _wages]


def generate(seed: int = 2024, per_template: int = 6) -> dict[str, list[dict]]:
    rng = random.Random(seed)
    problems = []
    for template in TEMPLATES:
        for _ in range(per_template):
            question, answer, solution = template(rng)
            problems.append({"question": question, "answer": int(answer), "solution": solution,
                             "kind": template.__name__.lstrip("_")})
    rng.shuffle(problems)
    third = len(problems) // 3
    splits = {"train": problems[:third], "val": problems[third:2 * third], "test": problems[2 * third:]}
    for name, items in splits.items():
        for i, item in enumerate(items):
            item["id"] = f"{name}-{i}"
    return splits


def load(path: str = PATH) -> dict[str, list[dict]]:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


if __name__ == "__main__":
    with open(PATH, "w", encoding="utf-8") as f:
        json.dump(generate(), f, indent=1)
        f.write("\n")
    print(f"wrote {PATH}")
