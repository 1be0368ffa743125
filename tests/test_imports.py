"""What ``import honing`` and a run with a callable LM load, and that the lazily loaded names still resolve.

Issue 12: the fixed cost of a small run was mostly the import (the serve-lm server, the local model's
runtime, asyncio, HTTP clients). Each check runs in a fresh interpreter, since this test process has
long since imported everything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import honing
import honing.llm
import honing.store

ROOT = Path(__file__).resolve().parent.parent

# Modules a run with a callable LM has no use for: each would be imported, and cost, in every run.
NOT_FOR_A_RUN = [
    "asyncio", "ssl", "http.client", "http.server", "urllib.request", "importlib.metadata", "litellm",
    "honing.llm._server", "honing.llm._local", "honing.llm._local_runtime", "honing.llm._litellm",
    "honing.llm._openai_compat", "honing.llm._model_files", "honing.sandbox", "honing.ui",
    "honing.store._reader", "honing.executors._process", "honing.tracking._mlflow",
    # the standard library's heavier corners, each used by one path a plain run never takes: did-you-mean
    # hints for a misspelt config field and rebasing (difflib), the terminal width without a terminal
    # (shutil, with bz2 and lzma), and the GEPA callback bridge when there are no callbacks
    "difflib", "shutil", "bz2", "lzma", "secrets", "socket", "honing._gepa_callbacks",
]


def _modules_after(code: str) -> set[str]:
    script = textwrap.dedent(code) + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def _loaded_by(code: str) -> set[str]:
    """What ``code`` imports beyond what the interpreter's own start-up (``site``, ``.pth`` files) loaded."""
    return _modules_after(code) - _modules_after("")


def test_import_honing_loads_no_backend_server_or_event_loop() -> None:
    loaded = _loaded_by("import honing")
    assert sorted(set(NOT_FOR_A_RUN) & loaded) == []


def test_a_run_with_a_callable_lm_loads_none_of_them_either(tmp_path: Path) -> None:
    loaded = _loaded_by(f"""
        import honing as hn

        def evaluate(candidate, example):
            return float(len(candidate) % 3 == example), {{"feedback": "length " + str(len(candidate))}}

        def lm(prompt):
            return "```\\nv" + str(len(str(prompt))) + "\\n```"

        config = hn.Config(engine=hn.EngineConfig(max_candidate_proposals=3, run_dir={str(tmp_path)!r},
                                                  progress=False),
                           reflection=hn.ReflectionConfig(reflection_lm=lm))
        result = hn.optimize_anything("seed", evaluate, dataset=[0, 1, 2], config=config)
        assert len(result.proposals) == 3
    """)
    assert sorted(set(NOT_FOR_A_RUN) & loaded) == []


@pytest.mark.parametrize("package", [honing, honing.llm, honing.store], ids=lambda p: p.__name__)
def test_every_public_name_resolves_and_is_listed(package: object) -> None:
    names = package.__all__  # type: ignore[attr-defined]
    assert len(set(names)) == len(names)
    for name in names:
        assert getattr(package, name) is not None, name
    assert set(names) <= set(dir(package))


def test_lazy_names_are_the_defining_modules_objects() -> None:
    from honing.llm._local import LocalLM
    from honing.llm._resolve import lm
    from honing.llm._server import serve
    from honing.sandbox import run_code
    from honing.store._reader import RunReader

    assert (honing.LocalLM, honing.lm, honing.run_code, honing.llm.serve, honing.store.RunReader) == \
        (LocalLM, lm, run_code, serve, RunReader)


def test_an_unknown_name_is_an_attribute_error() -> None:
    for package in (honing, honing.llm, honing.store):
        with pytest.raises(AttributeError, match="no attribute 'nope'"):
            package.nope  # type: ignore[attr-defined]  # noqa: B018
