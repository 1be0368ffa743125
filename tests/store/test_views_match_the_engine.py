"""The viewer's derived views equal the engine's own ScoreBoard on the same run (one rulebook, held by a test)."""

from __future__ import annotations

import math

import pytest

import honing as hn
from tests.helpers import growing_lm

VAL = [{"id": i} for i in range(6)]
TRAIN = [{"id": 10 + i} for i in range(4)]


def evaluate(candidate, example):
    n = candidate.count("@")
    if (n + example["id"]) % 7 == 3:
        return math.nan, {"note": "a NaN score"}
    if (n + example["id"]) % 11 == 5:
        raise ValueError("the evaluator failed here")
    score = min(n, 8) / 8 * (1 + example["id"] % 3) / 3
    return score, {"scores": {"accuracy": score, "brevity": 1 / (1 + n)}}


@pytest.mark.parametrize("frontier_type", ["instance", "objective", "hybrid", "cartesian"])
def test_the_reader_agrees_with_the_engine(tmp_path, frontier_type):
    from honing.store import RunReader

    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=120, run_dir=str(tmp_path / "run"),
                                              frontier_type=frontier_type, max_workers=1),
                       reflection=hn.ReflectionConfig(reflection_lm=growing_lm()))
    result = hn.optimize_anything("@", evaluator=evaluate, dataset=TRAIN, valset=VAL, objective="more @",
                                  config=config)
    ids = result.candidate_ids
    with RunReader(tmp_path / "run") as reader:
        assert sorted(reader.pool) == sorted(ids)
        for cid, mean in zip(ids, result.val_scores):
            assert reader.val_mean(cid) == pytest.approx(mean, nan_ok=True)
        assert reader.best_id() == ids[result.best_idx]
        assert sorted(reader.front().members()) == sorted(ids[i] for i in result.pareto_front["members"])
        assert reader.metric_calls == result.total_metric_calls
