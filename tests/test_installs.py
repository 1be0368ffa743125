"""What honing tells users to install exists, and LiteLLM keeps its banner to itself."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def _extras() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return set(project["optional-dependencies"])


def test_every_extra_named_in_messages_and_docs_exists():
    named: dict[str, set[str]] = {}
    files = [*ROOT.glob("honing/**/*.py"), *ROOT.glob("docs/*.md"), ROOT / "README.md", *ROOT.glob("tests/**/*.py"),
             *ROOT.glob("examples/**/*.md"), *ROOT.glob("bench/*.py")]
    for path in files:
        for match in re.finditer(r"honing\[([a-z0-9_,\- ]+)\]", path.read_text(errors="replace")):
            for extra in match.group(1).split(","):
                named.setdefault(extra.strip(), set()).add(str(path.relative_to(ROOT)))
    missing = {extra: sorted(where) for extra, where in named.items() if extra not in _extras()}
    assert not missing, f"extras named but not defined in pyproject.toml: {missing}"
    assert {"mlflow", "wandb", "hosted", "local", "ray"} <= set(named)


def test_the_tracking_extra_is_both_trackers():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert extras["tracking"] == ["honing[mlflow,wandb]"]
    assert any(dep.startswith("tqdm") for dep in project["dependencies"])


def test_litellm_prints_no_provider_banner(capsys):
    from honing.llm._litellm import import_litellm

    try:
        litellm = import_litellm()  # first, so that litellm uses its bundled price table (no network)
    except ImportError:
        pytest.skip("litellm is not installed")
    with pytest.raises(Exception, match="LLM Provider NOT provided"):
        litellm.get_llm_provider("no-such-provider-model-xyz")
    captured = capsys.readouterr()
    assert "Provider List" not in captured.out + captured.err
