"""``bench/_benchmarks_md.py``: the Markdown tables and sections every benchmark writes."""

from __future__ import annotations

import pytest

from bench._benchmarks_md import table, write_section


def test_table_aligns_the_first_column_left_and_figures_right_unless_told():
    assert table(["store", "us"], [("sqlite", "1.5"), ("memory", 0.2)]).splitlines() == [
        "| store | us |", "|---|---:|", "| sqlite | 1.5 |", "| memory | 0.2 |"]
    assert table(["a", "b", "c"], [], align="lrl").splitlines()[1] == "|---|---:|---|"
    with pytest.raises(ValueError, match="2 letters for 3 columns"):
        table(["a", "b", "c"], [], align="lr")


def test_write_section_replaces_only_its_own_title(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\n## Search\n\nold\n\n## Search: notes\n\nkept\n")
    write_section("Search", "new", path)
    write_section("Store", "added", path)
    assert path.read_text() == "# Benchmarks\n\n## Search\n\nnew\n\n## Search: notes\n\nkept\n\n## Store\n\nadded\n"
