"""Search-efficiency workloads: simulated LLMs that read the prompt, and tasks with hidden answers.

Standard library only (and ``workloads.py`` beside it, which is too): this module is imported by
honing's benchmark driver and by the GEPA worker in its own virtual environment, so both engines run
exactly the same tasks and the same simulated model.

A task is a text of parameter lines (``alpha = 5.00``) that should match hidden, per-example targets.
The evaluator scores a candidate on one example and explains the score the way a real evaluator's side
information does: it names a few parameters that are off, in which direction and roughly by how much
(``alpha: too low by about 1.3``). Targets differ from example to example around a common centre, so
the best candidate is the one that generalizes, and the held-out score is measured on test examples
that neither engine ever sees.

The simulated LLM sees nothing but the prompt an engine sends it. It takes the text to rewrite from
the prompt's first fenced block, reads the hints that appear anywhere in the prompt, and behaves like
a small real model: it usually follows one or two hints (moving a parameter by a noisy amount, so it
sometimes overshoots), sometimes also changes an unrelated parameter at random, sometimes echoes the
text unchanged, sometimes writes a broken line, and sometimes answers without a code block. It never
reads a target, an example's hidden data or anything else a real model would not see.

Workloads (``WORKLOADS``):

* ``hints``: eight parameters, generalization mode (train / val / test).
* ``multiobjective``: two objectives reported in ``side_info["scores"]`` that pull a shared ``budget``
  parameter in opposite directions (accuracy wants it high, speed wants it low); the score is their
  product, and hints speak about both.
* ``noisy``: ``hints`` with evaluation noise (deterministic per candidate and example) and hints that
  point the wrong way 15% of the time; the held-out score is noise-free.
* ``merge``: two components (``parser`` and ``solver``) with their own parameters; a reflection may
  only rewrite the component it was asked about, so improvements found in different lineages have to
  be combined. Both engines run with merging on.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from workloads import prompt_text

PARAM_LINE = re.compile(r"^[ \t]*([a-z][a-z0-9_]*)[ \t]*=[ \t]*(-?\d+(?:\.\d+)?)[ \t]*$", re.M)
HINT = re.compile(r"\b([a-z][a-z0-9_]*): too (low|high) by about (\d+(?:\.\d+)?)")
FENCE = re.compile(r"^ {0,3}(`{3,})[^\n]*\n(.*?)^ {0,3}\1[ \t]*$", re.M | re.S)
SPEED_HINT = re.compile(r"\bbudget: (lower|raise) it for (speed|accuracy)")

WORKLOADS = ("hints", "multiobjective", "noisy", "merge")


def _unit(*parts: Any) -> float:
    """A deterministic uniform number in [0, 1) from any values (same on every interpreter)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _gauss(*parts: Any) -> float:
    u1, u2 = max(_unit(*parts, "a"), 1e-12), _unit(*parts, "b")
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2 * math.pi * u2)


def parse_params(text: str) -> dict[str, float] | None:
    """The parameter lines of a candidate text, or None when a line is malformed."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = PARAM_LINE.match(line)
        if match is None:
            return None
        values[match.group(1)] = float(match.group(2))
    return values


def render_params(values: dict[str, float], header: str | None = None) -> str:
    lines = [header] if header else []
    lines += [f"{name} = {value:.2f}" for name, value in values.items()]
    return "\n".join(lines)


@dataclass
class Task:
    """One workload instance: examples, a seed candidate, an evaluator and a held-out scorer."""

    name: str
    seed: int
    components: dict[str, list[str]]  # component -> its parameter names
    centre: dict[str, float]
    spread: float
    width: float
    train: list[dict[str, Any]]
    val: list[dict[str, Any]]
    test: list[dict[str, Any]]
    noise: float = 0.0
    wrong_hint: float = 0.0
    hints_per_example: int = 3
    merge: bool = False

    # -- candidates ------------------------------------------------------------------------
    @property
    def multi_component(self) -> bool:
        return len(self.components) > 1

    def seed_candidate(self) -> str | dict[str, str]:
        texts = {name: render_params({p: 5.0 for p in params}, f"# {name} settings")
                 for name, params in self.components.items()}
        return texts if self.multi_component else next(iter(texts.values()))

    def values(self, candidate: str | dict[str, str]) -> dict[str, float] | None:
        texts = candidate.values() if isinstance(candidate, dict) else [candidate]
        merged: dict[str, float] = {}
        for text in texts:
            parsed = parse_params(text)
            if parsed is None:
                return None
            merged.update(parsed)
        return merged

    # -- scoring ---------------------------------------------------------------------------
    def targets(self, example: dict[str, Any]) -> dict[str, float]:
        ex = example["id"]
        return {p: c + self.spread * _gauss(self.name, self.seed, "target", ex, p) for p, c in self.centre.items()}

    def _fit(self, values: dict[str, float], targets: dict[str, float], names: list[str]) -> float:
        fits = [math.exp(-(((values.get(p, 5.0) - targets[p]) / self.width) ** 2)) for p in names]
        return sum(fits) / len(fits)

    def true_score(self, candidate: str | dict[str, str], example: dict[str, Any]) -> tuple[float, dict]:
        """The noise-free score and the objective scores (empty for single-objective tasks)."""
        values = self.values(candidate)
        if values is None or any(p not in values for p in self.centre):
            return 0.0, {}
        targets = self.targets(example)
        if self.name != "multiobjective":
            return self._fit(values, targets, list(self.centre)), {}
        accuracy = self._fit(values, targets, [p for p in self.centre if p != "budget"])
        accuracy *= 0.55 + 0.45 * (1 - math.exp(-values["budget"] / 4.0))
        speed = 1.0 / (1.0 + max(0.0, values["budget"]) / (6.0 + 4.0 * example["kind"]))
        return accuracy * speed, {"accuracy": accuracy, "speed": speed}

    def evaluate(self, candidate: str | dict[str, str], example: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        """The evaluator both engines call: ``(score, side_info)``."""
        values = self.values(candidate)
        if values is None:
            return 0.0, {"error": "could not parse the settings: every line must read `name = number`"}
        missing = [p for p in self.centre if p not in values]
        if missing:
            return 0.0, {"error": "missing settings: " + ", ".join(missing)}
        score, objectives = self.true_score(candidate, example)
        key = (self.name, self.seed, _text_of(candidate), example["id"])
        if self.noise:
            score = min(1.0, max(0.0, score + self.noise * _gauss(*key, "noise")))
        targets = self.targets(example)
        off = sorted(((abs(values[p] - targets[p]), p) for p in self.centre if p != "budget"), reverse=True)
        hints = []
        for gap, p in off[: self.hints_per_example]:
            if gap < 0.15:
                continue
            low = values[p] < targets[p]
            if self.wrong_hint and _unit(*key, "wrong", p) < self.wrong_hint:
                low = not low
            size = max(0.1, round(gap * (0.8 + 0.4 * _unit(*key, "size", p)), 1))
            hints.append(f"{p}: too {'low' if low else 'high'} by about {size}")
        side_info: dict[str, Any] = {"hints": hints or ["all settings look right for this case"]}
        if objectives:
            side_info["scores"] = objectives
            wants = "speed" if objectives["speed"] < objectives["accuracy"] else "accuracy"
            side_info["trade-off"] = f"budget: {'lower' if wants == 'speed' else 'raise'} it for {wants}"
        return score, side_info

    def held_out(self, candidate: str | dict[str, str]) -> float:
        return sum(self.true_score(candidate, ex)[0] for ex in self.test) / len(self.test)


def _text_of(candidate: str | dict[str, str]) -> str:
    return candidate if isinstance(candidate, str) else "\n".join(f"{k}\n{v}" for k, v in sorted(candidate.items()))


def make_task(name: str, seed: int, *, n_train: int = 24, n_val: int = 24, n_test: int = 60) -> Task:
    if name not in WORKLOADS:
        raise ValueError(f"unknown workload {name!r}; choose from {', '.join(WORKLOADS)}")
    rng = random.Random(f"{name}:{seed}")
    if name == "merge":
        components = {"parser": ["p_split", "p_depth", "p_window", "p_margin"],
                      "solver": ["s_steps", "s_rate", "s_decay", "s_restarts"]}
    else:
        names = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"]
        components = {"settings": names[:6] + (["budget"] if name == "multiobjective" else names[6:])}
    params = [p for ps in components.values() for p in ps]
    centre = {p: round(rng.uniform(0.5, 9.5), 2) for p in params}
    examples = [{"id": i, "kind": i % 3} for i in range(n_train + n_val + n_test)]
    rng.shuffle(examples)
    return Task(
        name=name, seed=seed, components=components, centre=centre,
        spread=0.6 if name != "noisy" else 0.5, width=2.0,
        train=examples[:n_train], val=examples[n_train:n_train + n_val], test=examples[n_train + n_val:],
        noise=0.08 if name == "noisy" else 0.0, wrong_hint=0.15 if name == "noisy" else 0.0,
        merge=name == "merge",
    )


# -- the simulated LLM ------------------------------------------------------------------------

@dataclass
class Behaviour:
    """How a simulated model behaves; the defaults mimic a small, useful code model."""

    follow: float = 0.75  # the reply acts on hints (else it changes something at random)
    second_hint: float = 0.35  # it also acts on a second hinted parameter
    collateral: float = 0.2  # it also changes an unrelated parameter
    echo: float = 0.06  # the text comes back unchanged
    broken: float = 0.04  # a line comes back malformed
    prose: float = 0.03  # no code block at all
    overshoot: float = 0.45  # log-normal sigma on the step size
    reformat: float = 0.25  # the whole text comes back reformatted (every line differs from the original)


@dataclass
class SimLM:
    """``lm(prompt) -> str``: a simulated reflection model (thread-safe, seeded)."""

    seed: int
    latency: float = 0.0
    jitter: float = 0.3
    behaviour: Behaviour = field(default_factory=Behaviour)
    calls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(f"simlm:{self.seed}")

    def __call__(self, prompt: Any, *args: Any, **kwargs: Any) -> str:
        text = prompt_text(prompt)
        with self._lock:
            self.calls += 1
            rng = random.Random(self._rng.random())
        if self.latency > 0:
            time.sleep(self.latency * math.exp(self.jitter * rng.gauss(0, 1) - self.jitter ** 2 / 2))
        return reply_to(text, rng, self.behaviour)


def reply_to(prompt: str, rng: random.Random, b: Behaviour) -> str:
    block = FENCE.search(prompt)
    current = block.group(2) if block else ""
    values = parse_params(current) or {}
    header = next((ln for ln in current.splitlines() if ln.strip().startswith("#")), None)
    if not values or rng.random() < b.prose:
        return "The settings look mostly reasonable; I would adjust the ones the feedback mentions."
    if rng.random() < b.echo:
        return f"```\n{current.strip()}\n```"
    new = dict(values)
    hinted: dict[str, list[float]] = {}
    for name, direction, size in HINT.findall(prompt):
        if name in values:
            hinted.setdefault(name, []).append(float(size) if direction == "low" else -float(size))
    speed = SPEED_HINT.findall(prompt)
    if "budget" in values and speed:
        votes = sum(1 if d == "raise" else -1 for d, _ in speed)
        hinted.setdefault("budget", []).append(1.5 * votes / len(speed))
    if hinted and rng.random() < b.follow:
        order = sorted(hinted, key=lambda n: (-len(hinted[n]), rng.random()))
        chosen = order[:2] if len(order) > 1 and rng.random() < b.second_hint else order[:1]
        for name in chosen:
            step = sum(hinted[name]) / len(hinted[name])
            new[name] = values[name] + step * math.exp(rng.gauss(0, b.overshoot))
    else:
        name = rng.choice(sorted(values))
        new[name] = values[name] + rng.gauss(0, 1.5)
    if rng.random() < b.collateral:
        name = rng.choice(sorted(values))
        new[name] = new[name] + rng.gauss(0, 1.0)
    body = render_params(new, header)
    if rng.random() < b.reformat:  # rewritten from scratch: same settings, new layout
        style = rng.choice(["{n}={v:.2f}", "{n} = {v:.3f}", "{n}  =  {v:.2f}"])
        items = list(new.items())
        rng.shuffle(items)
        body = "\n".join(([header] if header else []) + [style.format(n=n, v=v) for n, v in items])
    if rng.random() < b.broken:
        lines = body.splitlines()
        i = rng.randrange(len(lines))
        lines[i] = lines[i].replace("=", "is", 1) if "=" in lines[i] else lines[i] + " = ?"
        body = "\n".join(lines)
    return "Adjusting the settings the feedback points at.\n```\n" + body + "\n```"


# -- the evaluation log both sides keep, for best-so-far curves ---------------------------------

class EvalLog:
    """Every evaluator call, in order: (seconds since start, candidate text, example id, score)."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.calls: list[tuple[float, str, int, float]] = []
        self.candidates: dict[str, Any] = {}
        self._lock = threading.Lock()

    def wrap(self, task: Task, latency: float) -> Callable[..., tuple[float, dict[str, Any]]]:
        def evaluator(candidate: Any, example: Any = None, **_: Any) -> tuple[float, dict[str, Any]]:
            if latency > 0:
                time.sleep(latency)
            score, side_info = task.evaluate(candidate, example)
            text = _text_of(candidate)
            with self._lock:
                self.calls.append((time.perf_counter() - self.started, text, example["id"], score))
                self.candidates.setdefault(text, candidate)
            return score, side_info

        return evaluator

    def curves(self, task: Task) -> list[tuple[int, float, float]]:
        """Best-so-far (metric calls, seconds, held-out score of the best fully validated candidate).

        A candidate counts once it has been scored on every validation example; the best one is the
        highest mean validation score so far, which is what either engine would return at that point.
        """
        val_ids = {ex["id"] for ex in task.val}
        seen: dict[str, dict[int, float]] = {}
        best_mean, out = -1.0, []
        for n, (t, text, ex_id, score) in enumerate(self.calls, 1):
            if ex_id not in val_ids:
                continue
            scores = seen.setdefault(text, {})
            scores[ex_id] = score
            if len(scores) == len(val_ids):
                mean = sum(scores.values()) / len(scores)
                if mean > best_mean:
                    best_mean = mean
                    out.append((n, round(t, 3), round(task.held_out(self.candidates[text]), 5)))
        return out
