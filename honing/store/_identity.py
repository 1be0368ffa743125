"""Who the evaluator is: a qualified name and a hash of its source, kept in the run header.

Resuming a run with an edited evaluator silently mixes two scoring functions
(the stored scores are reused as they are), so the header records which
evaluator produced them. The source hash covers the function (or, for a
callable object, its class) -- not the helpers it calls, which is enough to
catch the common case of editing the evaluator itself. It hashes the parsed
source (``ast.dump``), so comments, blank lines and formatting do not count as
a change, nor does moving the function to another line. Where the source
cannot be read (a builtin, a REPL session) only the name is compared.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import textwrap
from typing import Any


def evaluator_identity(fn: Any) -> tuple[str, str | None]:
    """``(qualified name, source hash or None)`` of an evaluator callable."""
    target = _unwrap(fn)
    name = _qualified_name(target)
    try:
        source = inspect.getsource(target if _is_routine(target) else type(target))
    except (OSError, TypeError):
        return name, None
    text = _normalized(textwrap.dedent(source), target)
    return name, hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _normalized(source: str, target: Any) -> str:
    """The parsed form of ``source``; for a lambda, only the lambdas on its lines (they hold the whole statement).

    Two lambdas on one line hash alike: they cannot be told apart from the source alone.
    """
    is_lambda = getattr(target, "__name__", None) == "<lambda>"
    try:
        tree = ast.parse(source)
    except SyntaxError:  # a lambda in the middle of a larger expression: a fragment that does not parse alone
        code = getattr(target, "__code__", None)
        if code is None:
            return source
        return repr((code.co_code, code.co_names, code.co_varnames,
                     [c for c in code.co_consts if not inspect.iscode(c)]))
    if is_lambda:
        lambdas = [ast.dump(node) for node in ast.walk(tree) if isinstance(node, ast.Lambda)]
        return "\n".join(lambdas) or ast.dump(tree)
    return ast.dump(tree)


def _unwrap(fn: Any) -> Any:
    while isinstance(fn, functools.partial):
        fn = fn.func
    if inspect.ismethod(fn):
        return fn.__func__
    return fn


def _is_routine(fn: Any) -> bool:
    return inspect.isfunction(fn) or inspect.isbuiltin(fn) or inspect.ismethoddescriptor(fn)


def _qualified_name(fn: Any) -> str:
    owner = fn if _is_routine(fn) or inspect.isclass(fn) else type(fn)
    module = getattr(owner, "__module__", None) or "?"
    qualname = getattr(owner, "__qualname__", None) or getattr(owner, "__name__", None) or repr(type(owner))
    return f"{module}.{qualname}"
