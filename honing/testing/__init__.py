"""Test suites that ship with honing, for code that extends it.

* ``StoreContract`` -- subclass it to prove a ``honing.Store`` implementation
  against the same tests the built-in stores pass (needs pytest).
"""

from __future__ import annotations

from ._store_contract import StoreContract

__all__ = ["StoreContract"]
