"""hn.log and stdio capture: per evaluation, across worker threads."""

from __future__ import annotations

import contextvars
import threading

import pytest

import honing as hn
from tests.helpers import growing_lm


def run(evaluate, **engine):
    engine.setdefault("max_metric_calls", 12)
    lm = growing_lm()
    config = hn.Config(engine=hn.EngineConfig(**engine), reflection=hn.ReflectionConfig(reflection_lm=lm))
    return hn.optimize_anything("@", evaluate, dataset=[1, 2, 3, 4], config=config), lm


def side_infos(result):
    return result


def test_log_lines_land_in_their_own_evaluation_on_worker_threads():
    records = []

    class Keep:
        def on_evaluation(self, record):
            records.append(record)

    def evaluate(candidate, example):
        hn.log("example", example, "length", len(candidate))
        return len(candidate) / 10

    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=16, max_workers=4),
                       reflection=hn.ReflectionConfig(reflection_lm=growing_lm()), callbacks=[Keep()])
    hn.optimize_anything("@", evaluate, dataset=[1, 2, 3, 4], config=config)
    assert records
    for record in records:
        ex = {1, 2, 3, 4}
        log = record.side_info["log"]
        assert log.count("example") == 1  # never mixed with another evaluation's lines
        assert any(log.startswith(f"example {e} ") for e in ex)


def test_threads_started_by_the_evaluator_can_log():
    records = []

    class Keep:
        def on_evaluation(self, record):
            records.append(record)

    def evaluate(candidate):
        ctx = hn.get_log_context()

        def worker():
            hn.set_log_context(ctx)
            hn.log("from my thread")

        t = threading.Thread(target=worker)
        t.start()
        t.join()
        t2 = threading.Thread(target=contextvars.copy_context().run, args=(lambda: hn.log("copied context"),))
        t2.start()
        t2.join()
        return 0.5

    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=1),
                       reflection=hn.ReflectionConfig(reflection_lm=growing_lm()), callbacks=[Keep()])
    hn.optimize_anything("@", evaluate, config=config)
    assert "from my thread" in records[0].side_info["log"]
    assert "copied context" in records[0].side_info["log"]


def test_log_outside_an_evaluation_warns():
    with pytest.warns(UserWarning, match="outside an evaluation"):
        hn.log("nobody hears this")
    with pytest.raises(RuntimeError):
        hn.get_log_context()


def test_capture_stdio_routes_prints_into_side_info(capsys):
    records = []

    class Keep:
        def on_evaluation(self, record):
            records.append(record)

    def evaluate(candidate, example):
        print(f"printed by example {example}")
        return 0.1

    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=4, capture_stdio=True, max_workers=4),
                       reflection=hn.ReflectionConfig(reflection_lm=growing_lm()), callbacks=[Keep()])
    hn.optimize_anything("@", evaluate, dataset=[1, 2, 3, 4], config=config)
    assert sorted(r.side_info["stdout"].strip() for r in records) == [f"printed by example {i}" for i in (1, 2, 3, 4)]
    assert "printed by example" not in capsys.readouterr().out
    print("after the run")
    assert "after the run" in capsys.readouterr().out
