"""MLflow and W&B trackers really record the run (checked in the stores afterwards)."""

from __future__ import annotations

import glob
import json
import os

import pytest

import honing as hn
from honing.tracking import make_trackers
from tests.helpers import CountingEvaluator, growing_lm


def config(budget: int = 12, **tracking):
    return hn.Config(engine=hn.EngineConfig(max_metric_calls=budget, max_workers=2),
                     reflection=hn.ReflectionConfig(reflection_lm=growing_lm()),
                     tracking=hn.TrackingConfig(**tracking))


def test_no_tracking_means_no_trackers():
    assert [type(t).__name__ for t in make_trackers(hn.Config())] == ["RunLogger"]


def test_missing_backends_say_how_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "mlflow", None)
    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(ImportError, match=r"honing\[mlflow\]"):
        make_trackers(hn.Config(tracking=hn.TrackingConfig(use_mlflow=True)))
    with pytest.raises(ImportError, match=r"honing\[wandb\]"):
        make_trackers(hn.Config(tracking=hn.TrackingConfig(use_wandb=True)))


def test_mlflow_run_has_metrics_params_and_best_candidate(tmp_path):
    pytest.importorskip("mlflow", reason="mlflow is not installed (pip install 'honing[mlflow]')")
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"  # artifacts go under the cwd, which is tmp_path in tests
    result = hn.optimize_anything("@", CountingEvaluator(), objective="more @",
                                  config=config(use_mlflow=True, mlflow_tracking_uri=uri,
                                                mlflow_experiment_name="honing-test"))
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("honing-test")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    metrics = run.data.metrics
    assert metrics["final_best_score"] == pytest.approx(result.best_score)
    assert metrics["final_metric_calls"] == result.total_metric_calls
    assert metrics["best_score"] == pytest.approx(result.best_score)
    assert run.data.params["engine.max_metric_calls"] == "12"
    history = client.get_metric_history(run.info.run_id, "metric_calls")
    proposals = [p for p in result.proposals if p.kind != "seed_generation"]
    assert len(history) == len(proposals) + 1  # on_start, then one point per proposal
    assert [m.value for m in sorted(history, key=lambda m: m.step)] == sorted(m.value for m in history)
    accepted = client.get_metric_history(run.info.run_id, "accepted_proposals")
    assert max(m.value for m in accepted) == len(result.accepted_proposals)
    assert "budget_used" in metrics and "lm_cost_usd" in metrics
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"best_candidate.txt", "best_candidate.json"} <= artifacts
    text_path = client.download_artifacts(run.info.run_id, "best_candidate.txt", str(tmp_path / "dl"))
    with open(text_path) as handle:
        assert handle.read() == result.best_candidate


def read_wandb_records(path: str):
    """Decode an offline ``.wandb`` file (LevelDB-style log of protobuf ``Record``s).

    Recent wandb versions keep an offline run's history and summary only in this
    file (no wandb-summary.json until it is synced), and ship no Python reader.
    """
    import struct

    from wandb.proto import wandb_internal_pb2 as pb

    with open(path, "rb") as handle:
        data = handle.read()
    assert data[:4] == b":W&B"
    block, pos, pending = 32768, 7, b""
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:  # a block tail too short for a record header is zero padding
            pos += left
            continue
        _checksum, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if kind == 0 and length == 0:
            pos += left
            continue
        chunk, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
        if kind in (2, 3):  # first / middle fragment
            pending = (b"" if kind == 2 else pending) + chunk
            continue
        record = pb.Record()
        record.ParseFromString(pending + chunk if kind == 4 else chunk)
        pending = b""
        yield record


def _items(items):
    return {(item.key or "/".join(item.nested_key)): json.loads(item.value_json) for item in items}


def test_wandb_offline_run_has_history_summary_and_best_candidate(tmp_path, monkeypatch):
    pytest.importorskip("wandb", reason="wandb is not installed (pip install 'honing[wandb]')")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "cache"))
    result = hn.optimize_anything({"text": "@"}, CountingEvaluator(cap=50),
                                  config=config(use_wandb=True, wandb_init_kwargs={"project": "honing-test"}))
    (run_dir,) = glob.glob(str(tmp_path / "wandb" / "offline-run-*"))
    (log_file,) = glob.glob(os.path.join(run_dir, "*.wandb"))
    history, summary, config_keys, artifacts = [], {}, set(), []
    for record in read_wandb_records(log_file):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            history.append(_items(record.history.item))
        elif kind == "summary":
            summary.update(_items(record.summary.update))
        elif kind in ("run", "config"):  # the config given to wandb.init travels in the run record
            config_keys.update(_items((record.run.config if kind == "run" else record.config).update))
        elif kind == "artifact":
            artifacts.append((record.artifact.name, {m.path for m in record.artifact.manifest.contents}))
    proposals = [p for p in result.proposals if p.kind != "seed_generation"]
    assert len(history) == len(proposals) + 1  # on_start, then one row per proposal
    assert [row["metric_calls"] for row in history] == sorted(row["metric_calls"] for row in history)
    assert history[-1]["best_score"] == pytest.approx(result.best_score)
    assert history[-1]["accepted_proposals"] == len(result.accepted_proposals)
    assert summary["final_best_score"] == pytest.approx(result.best_score)
    assert summary["final_metric_calls"] == result.total_metric_calls
    assert summary["stop_reason"] == result.stop_reason
    assert "engine.max_metric_calls" in config_keys
    assert artifacts == [("honing-best-candidate", {"best_candidate.json"})]
    with open(os.path.join(run_dir, "files", "best_candidate.json")) as handle:
        best = json.load(handle)
    assert best["candidate"] == result.best_candidate and best["best_score"] == pytest.approx(result.best_score)
