"""Loading values that come back from untrusted code.

A pickle can call any importable function while it loads, so the parent never uses
plain ``pickle.loads`` on sandbox output: only an allowlist of harmless classes and
NumPy's array reconstructors may be referenced.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

__all__ = ["RefusedGlobal", "safe_loads"]

_NUMPY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric", "numpy._core.numeric")
_ALLOWED: frozenset[tuple[str, str]] = frozenset(
    [("builtins", name) for name in ("complex", "set", "frozenset", "slice", "range")]
    + [("collections", name) for name in ("OrderedDict", "deque", "Counter")]
    + [("datetime", name) for name in ("date", "datetime", "time", "timedelta", "timezone")]
    + [("decimal", "Decimal"), ("fractions", "Fraction")]
    + [("numpy", "ndarray"), ("numpy", "dtype")]
    + [(mod, name) for mod in _NUMPY_MODULES for name in ("_reconstruct", "scalar", "_frombuffer")]
)


class RefusedGlobal(pickle.UnpicklingError):
    """The pickle referenced a class or function outside the allowlist."""

    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"{module}.{name}")
        self.qualified = f"{module}.{name}"


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise RefusedGlobal(module, name)


def safe_loads(data: bytes) -> Any:
    """Unpickle ``data`` allowing only plain values and NumPy arrays."""
    return _Unpickler(io.BytesIO(data)).load()
