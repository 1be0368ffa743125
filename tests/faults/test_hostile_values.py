"""Values an evaluator or an LM may hand back that once ended a run: each is stored, read back, shown.

Every case writes through a real ``SQLiteStore`` file, reopens it the way a
resumed run does (unpickling) and the way a viewer does (not unpickling).
"""

from __future__ import annotations

import dataclasses
import sqlite3

import honing as hn
from honing.store import RunReader, SQLiteStore
from honing.store._codec import MAX_VALUE_BYTES, Opaque
from honing.ui import build_report, render_show
from tests.conftest import ScriptedLM, fenced
from tests.helpers import growing_lm
from tests.store._helpers import candidate, evaluation, header, proposal


class RaisingRepr:
    """repr, str and pickling all raise."""

    def __repr__(self):
        raise ValueError("repr refused")

    def __str__(self):
        raise ValueError("str refused")

    def __reduce__(self):
        raise TypeError("pickle refused")


class ExitingRepr:
    """Raises SystemExit from repr and pickle: a value must not be able to end the run."""

    def __repr__(self):
        raise SystemExit(3)

    def __reduce__(self):
        raise SystemExit(4)


def cyclic_dict():
    d = {"name": "loop"}
    d["self"] = d
    return d


def cyclic_list():
    items = [1, 2]
    items.append(items)
    return items


def deep_list(depth=50_000):
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def _round_trip(tmp_path, side_info, output=None):
    store = SQLiteStore.for_run_dir(tmp_path / "run")
    store.open(header(), {})
    store.add_candidate(candidate(0))
    store.start_evaluations([(0, "k")])
    store.add_evaluation(evaluation(0, "k", side_info=side_info, output=output))
    store.close()
    resumed = SQLiteStore.for_run_dir(tmp_path / "run")
    run = resumed.open(header(), {})
    resumed.close()
    with RunReader(tmp_path / "run") as reader:
        viewed = reader.evaluation_details(0)[0]
    return run.evaluations[0], viewed


def test_a_cyclic_dict_comes_back_as_the_same_cycle(tmp_path):
    back, viewed = _round_trip(tmp_path, {"graph": cyclic_dict(), "plain": 1})
    graph = back.side_info["graph"]
    assert graph["name"] == "loop" and graph["self"] is graph
    assert back.side_info["plain"] == 1
    assert isinstance(viewed.side_info["graph"], Opaque) and "{...}" in viewed.side_info["graph"]
    assert viewed.side_info["plain"] == 1


def test_a_cyclic_list_in_the_output_comes_back(tmp_path):
    back, _ = _round_trip(tmp_path, {}, output=cyclic_list())
    assert back.output[:2] == [1, 2] and back.output[2] is back.output


def test_lone_surrogates_survive_everywhere(tmp_path):
    side_info = {"text": "bad \udc80 byte", "bad key \ud800": ["\udfff" * 2000], "ok": "h\u00e9llo"}
    back, viewed = _round_trip(tmp_path, side_info, output="out \udc81")
    assert back.side_info == side_info and back.output == "out \udc81"
    assert viewed.side_info == side_info
    store = SQLiteStore.for_run_dir(tmp_path / "run")
    store.open(header(), {})
    record = proposal(0)
    store.add_proposal(dataclasses.replace(record, reply="```\n\udc80@\n```", error="x\ud800", reason="\udcff"))
    store.close()
    with RunReader(tmp_path / "run") as reader:
        stored = reader.proposal(reader.proposals[0])
        assert (stored.reply, stored.error, stored.reason) == ("```\n\udc80@\n```", "x\ud800", "\udcff")
        assert reader.proposals[0].error == "x\ud800"
    assert sqlite3.connect(tmp_path / "run" / "honing.db").execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_values_whose_repr_and_pickle_raise_are_described(tmp_path):
    back, viewed = _round_trip(tmp_path, {"obj": RaisingRepr(), "exits": ExitingRepr(), "n": 2})
    for shown in (back.side_info, viewed.side_info):
        assert isinstance(shown["obj"], Opaque) and "RaisingRepr" in shown["obj"] and "repr refused" in shown["obj"]
        assert "ExitingRepr" in shown["exits"] and "SystemExit" in shown["exits"]
        assert shown["n"] == 2


def test_very_deep_nesting_is_stored_bounded(tmp_path):
    back, viewed = _round_trip(tmp_path, {"deep": deep_list(), "shallow": [[[1]]]})
    assert back.side_info["shallow"] == [[[1]]]
    deep = back.side_info["deep"]
    for _ in range(60):  # the first levels are kept as they were; below that, a bounded description
        assert isinstance(deep, list) and len(deep) == 1
        deep = deep[0]
    assert len(str(viewed.side_info["deep"])) < 10_000


def test_a_huge_string_is_cut_with_a_note(tmp_path):
    huge = "0123456789" * (MAX_VALUE_BYTES // 10 + 1000)
    back, _ = _round_trip(tmp_path, {"trace": huge, "small": "s"})
    kept = back.side_info["trace"]
    assert isinstance(kept, Opaque) and kept.startswith("0123456789" * 100)
    assert f"{len(huge):,} characters" in kept and len(kept) < 200_000
    assert back.side_info["small"] == "s"
    assert (tmp_path / "run" / "honing.db").stat().st_size < 8 * 2**20


def test_a_run_with_hostile_side_info_finishes_resumes_and_shows(tmp_path):
    """The whole path: evaluator -> record -> SQLite -> resume -> show/report, with every hostile value at once."""

    def evaluate(candidate, example):
        return candidate.count("@") / 10, {
            "cycle": cyclic_dict(), "surrogate \udc80": "\ud800", "obj": RaisingRepr(), "deep": deep_list(5000),
            "trace": "line <!--<script>\n" * 200,
        }

    def run(budget):
        config = hn.Config(engine=hn.EngineConfig(max_metric_calls=budget, run_dir=str(tmp_path / "run")),
                           reflection=hn.ReflectionConfig(reflection_lm=growing_lm()))
        return hn.optimize_anything("@", evaluator=evaluate, dataset=["a", "b"], objective="more @", config=config)

    first = run(8)  # a tiny first session, on purpose (its budget warning is logged)
    second = run(20)
    assert first.total_metric_calls == 8 and second.total_metric_calls == 20
    assert second.best_score >= first.best_score
    with RunReader(tmp_path / "run") as reader:
        assert "best candidate: #" in render_show(reader)
    assert build_report(str(tmp_path / "run"), tmp_path / "report.html").stat().st_size > 0


def test_an_lm_reply_with_lone_surrogates_is_stored(tmp_path):
    lm = ScriptedLM(lambda prompt: "\udcff thinking " + fenced("@" * (prompt.count("@") + 1) + "\udc80"))
    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=8, run_dir=str(tmp_path / "run")),
                       reflection=hn.ReflectionConfig(reflection_lm=lm))
    result = hn.optimize_anything("@", evaluator=lambda c, e: (c.count("@") / 10, {}), dataset=["a", "b"],
                                  objective="more @", config=config)
    assert result.total_metric_calls == 8
    with RunReader(tmp_path / "run") as reader:
        assert any("\udc80" in c.components["candidate"] for c in reader.candidates.values())
        assert all(reader.proposal(p).reply.startswith("\udcff") for p in reader.proposals)
