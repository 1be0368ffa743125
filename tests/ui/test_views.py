"""honing show / report / dashboard on a real stored run (the dashboard also in headless Chromium)."""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path

import pytest

import honing as hn
from honing.cli import main
from honing.store import RunReader
from honing.ui._server import Dashboard
from tests.helpers import CountingEvaluator, growing_lm

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _image():
    try:
        from PIL import Image as PILImage

        return hn.Image(PILImage.new("RGB", (24, 24), (220, 40, 40)))
    except Exception:
        return None


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("views") / "run"
    counter = CountingEvaluator()
    image = _image()

    def evaluate(candidate, example):
        score, side_info = counter(candidate, example)
        side_info = {**side_info, "trace": "line\n" * 50}
        if image is not None:
            side_info["render"] = image
        return score, side_info

    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=18, run_dir=str(run_dir)),
                       reflection=hn.ReflectionConfig(reflection_lm=growing_lm()))
    result = hn.optimize_anything("@", evaluator=evaluate, dataset=["a", "b"], objective="more @", config=config)
    return run_dir, result, image is not None


def test_show_prints_best_trajectory_and_frontier(run, capsys):
    run_dir, result, _ = run
    assert main(["show", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert f"best candidate: #{result.candidate_ids[result.best_idx]}" in out
    assert result.best_candidate in out
    assert "score trajectory" in out and "Pareto front" in out


def test_show_explains_a_missing_run(tmp_path, capsys):
    assert main(["show", str(tmp_path / "nothing")]) == 2
    assert "no run store" in capsys.readouterr().err


def test_report_is_self_contained(run, tmp_path):
    run_dir, result, has_image = run
    out = tmp_path / "report.html"
    assert main(["report", str(run_dir), "-o", str(out)]) == 0
    page = out.read_text()
    assert "window.HONING_DATA" in page
    assert result.best_candidate in page
    assert "<script src" not in page and "<link" not in page and "http://" not in page.split("HONING_DATA")[0]
    if has_image:
        assert "data:image/png;base64," in page


def test_the_dashboard_api_serves_the_run(run):
    run_dir, result, _ = run
    dashboard = Dashboard(run_dir, port=0).start()
    try:
        overview = json.load(urllib.request.urlopen(dashboard.url + "api/overview"))
        best_id = result.candidate_ids[result.best_idx]
        assert overview["best"]["id"] == best_id
        assert overview["run"]["metric_calls"] == result.total_metric_calls
        detail = json.load(urllib.request.urlopen(f"{dashboard.url}api/candidate/{best_id}"))
        assert detail["components"]["candidate"] == result.best_candidate
        if detail["parent_id"] is not None:
            assert detail["proposal"]["reply"] and detail["proposal"]["prompt"]
        page = urllib.request.urlopen(dashboard.url).read().decode()
        assert "<svg" in page or "createElementNS" in page
    finally:
        dashboard.close()


def test_the_dashboard_renders_in_headless_chromium(run, tmp_path):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium); the dashboard was not checked in a browser")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright to run the browser test")
    pil = pytest.importorskip("PIL.Image")
    run_dir, result, has_image = run
    dashboard = Dashboard(run_dir, port=0, poll_ms=500).start()
    shot = tmp_path / "dashboard.png"
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1600})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(dashboard.url)
            page.wait_for_selector("#best .candidate-text", timeout=15_000)
            assert page.inner_text("#best .candidate-text").strip() == result.best_candidate
            page.wait_for_selector("#score-chart circle", timeout=10_000)
            page.wait_for_selector("#lineage-svg circle", timeout=10_000)
            page.wait_for_selector("#evaluations", timeout=10_000)
            if has_image:
                page.wait_for_selector("#evaluations img.side", timeout=10_000)
            page.screenshot(path=str(shot), full_page=True)
            browser.close()
        assert errors == []
    finally:
        dashboard.close()
    colours = pil.open(shot).convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50, "the screenshot is (nearly) blank"


def test_reader_trajectory_is_monotone(run):
    run_dir, result, _ = run
    with RunReader(run_dir) as reader:
        best = [p["score"] for p in reader.trajectory()["best"]]
        assert best == sorted(best)
        assert best[-1] == pytest.approx(result.best_score)
