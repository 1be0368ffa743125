"""Candidate text and side info that try to break out of the report's embedded data, rendered in Chromium."""

from __future__ import annotations

import base64
import shutil
import struct
import zlib
from pathlib import Path

import pytest

from honing.store import SQLiteStore
from honing.ui import build_report
from honing.ui._html import script_json
from tests.store._helpers import evaluation, header

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

HOSTILE = [
    "<!--<script>",
    "</script><script>window.__pwned = 1</script>",
    "<script>window.__pwned = 2</script>",
    "<img src=x onerror=\"window.__pwned = 3\">",
    "<!-- </script> --> ]]> \u2028 \u2029 & &amp; <\\/script>",
]


def _png_data_url() -> str:
    """A 2x2 red PNG, built by hand so the test needs no imaging library."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return "data:image/png;base64," + base64.b64encode(png).decode()


@pytest.fixture
def hostile_run(tmp_path):
    from tests.store._helpers import candidate

    run_dir = tmp_path / "run"
    store = SQLiteStore.for_run_dir(run_dir)
    store.open(header(), {})
    text = "\n".join(HOSTILE)
    store.add_candidate(candidate(0, text))
    for i, hostile in enumerate(HOSTILE):
        side_info = {"note": hostile, "render": {"$image": _png_data_url(), "caption": f"caption {i} {hostile}",
                                                  "pixels": 4},
                     "tracker": {"$image": "https://attacker.example/pixel.png", "why": "not a data URL"}}
        store.add_evaluation(evaluation(0, f"k{i}", 0.5, side_info=side_info, output=hostile))
    store.close()
    return run_dir, text


def test_the_embedded_json_has_no_markup_characters():
    text = script_json({"x": HOSTILE})
    assert "<" not in text and ">" not in text and "&" not in text


def test_the_report_renders_hostile_text_verbatim_and_runs_none_of_it(hostile_run, tmp_path):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright to run the browser test")
    run_dir, text = hostile_run
    report = build_report(str(run_dir), tmp_path / "report.html")
    page_text = report.read_text()
    assert page_text.count("<script") == 2  # the data and the renderer; nothing from the run
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        errors: list[str] = []
        requests: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("request", lambda request: requests.append(request.url))
        page.goto(report.as_uri())
        page.wait_for_selector("#best .candidate-text", timeout=15_000)
        best = page.evaluate("HONING_DATA.overview.best.components.candidate")
        assert page.inner_text("#best .candidate-text") == best
        assert page.evaluate("HONING_DATA.overview.best.components.candidate") == text
        page.wait_for_selector("#evaluations img.side", timeout=10_000)
        evaluations = page.inner_text("#evaluations")
        assert "caption 0 <!--<script>" in evaluations and "pixels" in evaluations  # "$image" beside its keys
        assert page.locator("#evaluations img.side").count() == len(HOSTILE)  # only data: URLs become images
        assert "not a data URL" in evaluations
        assert page.evaluate("window.__pwned") is None
        browser.close()
    assert errors == []
    assert not any(url.startswith("http") for url in requests), requests
