"""Names a package exports but imports on first use, so that importing the package stays cheap.

``import honing`` must not pay for what most runs never touch (the embedded
model's runtime, HTTP clients, the sandbox, the run viewers): such names are
listed with the module that defines them and resolved by the package's
``__getattr__`` the first time they are looked up.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, modules: dict[str, str],
                 namespace: dict[str, Any]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: ``modules`` maps each lazy name to its module.

    A module name may be relative to ``package`` (``"._local"``). A resolved
    name is stored in ``namespace`` (the package's globals), so later look-ups
    are plain attribute reads.
    """

    def __getattr__(name: str) -> Any:
        module = modules.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(modules))

    return __getattr__, __dir__
