"""render_side_info: bounded, readable, deterministic text with images collected."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from honing._image import Image
from honing._render import format_number, render_side_info, truncate_middle
from tests.test_image import PNG


def test_a_one_megabyte_trace_renders_under_the_limit():
    trace = "".join(f"frame {i}: call something()\n" for i in range(40_000))
    assert len(trace) > 1_000_000
    rendered = render_side_info({"error": "boom", "trace": trace}, max_field_chars=2000, max_total_chars=12000)
    assert len(rendered.text) <= 12000
    assert "error: boom" in rendered.text
    assert "chars omitted ...]" in rendered.text
    assert "frame 0:" in rendered.text and "frame 39999:" in rendered.text  # head and tail survive


def test_each_field_is_cut_in_the_middle():
    rendered = render_side_info({"a": "A" * 5000, "b": "B" * 5000}, max_field_chars=500, max_total_chars=100_000)
    assert rendered.text.count("chars omitted") == 2
    assert len(rendered.text) < 1300


def test_total_limit_holds_for_many_fields_and_long_lists():
    side_info = {f"key{i}": {"log": "x" * 3000, "items": list(range(1000))} for i in range(200)}
    for limit in (500, 3000, 12000):
        assert len(render_side_info(side_info, max_total_chars=limit).text) <= limit


@pytest.mark.parametrize("limit", [40, 41, 60, 100, 1000])
def test_truncate_middle_respects_the_limit(limit):
    text = truncate_middle("abcdefghij" * 500, limit)
    assert len(text) <= limit and "omitted" in text
    assert truncate_middle("short", limit) == "short"


def test_nested_structure_is_indented():
    text = render_side_info({"scores": {"acc": 0.5, "n": 3}, "cases": [{"in": 1, "ok": True}], "note": "a\nb"}).text
    assert "scores:\n  acc: 0.5\n  n: 3" in text
    assert "cases:\n  - in: 1\n    ok: true" in text
    assert "note: |\n  a\n  b" in text


def test_images_become_placeholders_and_are_collected_once():
    image = Image(PNG)
    rendered = render_side_info({"render": image, "again": [image], "other": "text"})
    assert rendered.images == [image]
    assert rendered.text.count("[image 1]") == 2
    offset = render_side_info({"render": image}, image_offset=3)
    assert "[image 4]" in offset.text


def test_pil_images_are_collected_too():
    pil = pytest.importorskip("PIL.Image")
    rendered = render_side_info({"frame": pil.new("RGB", (2, 2))})
    assert "[image 1]" in rendered.text and len(rendered.images) == 1


def test_numpy_arrays_are_summarised():
    np = pytest.importorskip("numpy")
    text = render_side_info({"pred": np.arange(100_000, dtype=np.float32).reshape(100, 1000),
                             "x": np.float64(0.125), "n": np.int64(7)}).text
    assert "shape=(100, 1000)" in text and "dtype=float32" in text and "min=0.0" in text
    assert len(text) < 400
    assert "x: 0.125" in text and "n: 7" in text


def test_floats_have_sensible_precision():
    assert format_number(0.1 + 0.2) == "0.3"
    assert format_number(3.0) == "3.0"
    assert format_number(1234567.891) == "1234567.89"
    assert format_number(1.5e-7) == "1.5e-07"
    assert format_number(float("nan")) == "nan"
    assert format_number(True) == "True"


def test_exceptions_objects_and_oddities():
    @dataclass
    class Case:
        name: str
        value: int

    class Plain:
        def __init__(self):
            self.x = 1

    try:
        raise ValueError("bad input")
    except ValueError as exc:
        error = exc
    cycle: list = [1]
    cycle.append(cycle)
    text = render_side_info({"exc": error, "case": Case("a", 2), "plain": Plain(), "obj": object(), "none": None,
                             "tags": {"b", "a"}, "blob": b"\x00\x01", "cycle": cycle}).text
    assert "ValueError: bad input" in text and "Traceback" in text
    assert "case:\n  name: a\n  value: 2" in text
    assert "plain: Plain(x=1)" in text
    assert "0x" not in text  # no memory addresses: output is deterministic
    assert "none: null" in text and "tags: ['a', 'b']" in text
    assert "<2 bytes>" in text and "circular reference" in text


def test_non_dict_side_info_and_empty():
    assert render_side_info("just a message").text == "just a message"
    assert render_side_info({}).text == "(no side information)"
    assert render_side_info([1, 2]).text == "[1, 2]"


def test_output_is_deterministic():
    side_info = {"b": {3, 1, 2}, "a": [0.1 + 0.2, {"x": object()}], "t": "y" * 50_000}
    assert render_side_info(side_info).text == render_side_info(side_info).text
