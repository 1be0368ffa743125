"""The root of every exception honing raises on purpose.

``except honing.HoningError`` catches anything honing itself reports (bad
configuration, an unusable store, a failing LM, ...) and nothing else. Each
subclass also derives from the built-in exception its meaning is closest to
(``ValueError`` for bad values, ``RuntimeError`` for failures at run time), so
code that catches those keeps working.
"""

from __future__ import annotations


class HoningError(Exception):
    """Base class of the errors honing raises."""


__all__ = ["HoningError"]
