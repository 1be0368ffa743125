"""Prompts are stored compressed against a recent prompt, and every one reads back exactly on its own."""

from __future__ import annotations

import dataclasses
import random
import sqlite3

from honing.store import RunReader, SQLiteStore
from honing.store._prompts import ROTATE_EVERY
from tests.store._helpers import header, proposal

WORDS = ["refund", "invoice", "plan", "annual", "charge", "customer", "policy", "discount", "account", "billing"]


def _prompt(rng: random.Random, i: int) -> list[dict]:
    candidate = "\n".join(" ".join(rng.choice(WORDS) for _ in range(10)) for _ in range(30))
    return [{"role": "system", "content": "You improve text artifacts. " * 20},
            {"role": "user", "content": f"## Goal\nBilling answers.\n## Current text\n```\n{candidate}\n```\n"
                                        f"## Results\nexample {i}: too long \udc80\n" + "feedback line\n" * 40}]


def _store_prompts(run_dir, prompts):
    store = SQLiteStore.for_run_dir(run_dir)
    store.open(header(), {})
    base = proposal(0)
    for i, prompt in enumerate(prompts):
        store.add_proposal(dataclasses.replace(base, id=i, prompt=prompt))
    store.close()


def test_every_prompt_reads_back_exactly(tmp_path):
    rng = random.Random(1)
    prompts = [_prompt(rng, i) for i in range(ROTATE_EVERY + 30)] + [None, [{"role": "user", "content": "short"}]]
    _store_prompts(tmp_path / "run", prompts)
    resumed = SQLiteStore.for_run_dir(tmp_path / "run")
    assert [p.prompt for p in resumed.open(header(), {}).proposals] == prompts
    resumed.close()
    with RunReader(tmp_path / "run") as reader:  # one at a time, in any order
        for info in reversed(reader.proposals):
            assert reader.proposal(info).prompt == prompts[info.id]
    db = sqlite3.connect(tmp_path / "run" / "honing.db")
    assert db.execute("SELECT count(*) FROM blobs WHERE kind='zdict'").fetchone()[0] >= 2  # rotated


def test_similar_prompts_take_a_fraction_of_their_text(tmp_path):
    rng = random.Random(2)
    prompts = [_prompt(rng, i) for i in range(60)]
    _store_prompts(tmp_path / "run", prompts)
    db = sqlite3.connect(tmp_path / "run" / "honing.db")
    stored = db.execute("SELECT sum(length(prompt)) FROM proposals").fetchone()[0]
    stored += db.execute("SELECT coalesce(sum(length(data)), 0) FROM blobs").fetchone()[0]
    text = sum(len(str(p)) for p in prompts)
    assert stored < text / 4, (stored, text)
