"""Shared pieces of the store tests: a run header and the record factories of the store contract."""

from __future__ import annotations

from honing.store import RunHeader
from honing.testing._store_contract import candidate, evaluation, proposal

__all__ = ["header", "candidate", "evaluation", "proposal"]


def header(fingerprint: str = "fp-1", objective: str | None = "more @") -> RunHeader:
    """A header without an evaluator identity (the contract's ``header`` has one)."""
    return RunHeader(fingerprint=fingerprint, objective=objective, background="bg",
                     seed_components={"candidate": "@"}, candidate_is_str=True)
