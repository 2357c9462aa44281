"""MLflow through vqhps.tracking: params, metrics, commit and hardware logged; failures never stop a stage."""

from __future__ import annotations

import logging

from vqhps.tracking import Tracker, run_environment, tracked_run


def test_run_logged_to_sqlite_store(mlflow_store):
    with tracked_run("unit", "prepare_meshes", {"seed": 3, "prepare_meshes": {"shard_size": 7}}) as tracker:
        tracker.log_metrics({"loss": 1.5}, step=1)
        tracker.log_metrics({"loss": 0.5}, step=2)
        tracker.log_metrics({"pve_mm": 12.0})
    import mlflow

    mlflow.set_tracking_uri(mlflow_store)
    runs = mlflow.search_runs(experiment_names=["vqhps/unit"])
    assert len(runs) == 1
    run = runs.iloc[0]
    assert run["tags.mlflow.runName"] == "prepare_meshes"
    assert run["params.prepare_meshes.shard_size"] == "7"
    assert run["metrics.pve_mm"] == 12.0
    assert run["tags.git_commit"] and run["tags.cpu"]
    history = mlflow.tracking.MlflowClient().get_metric_history(run["run_id"], "loss")
    assert [(m.step, m.value) for m in history] == [(1, 1.5), (2, 0.5)]


def test_env_var_disables(monkeypatch, tmp_path):
    monkeypatch.setenv("VQHPS_NO_TRACK", "1")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'db.sqlite'}")
    with tracked_run("unit", "x", {}) as tracker:
        tracker.log_metrics({"a": 1.0})
    assert not tracker.enabled
    assert not (tmp_path / "db.sqlite").exists()


def test_unreachable_store_warns_once_and_continues(monkeypatch, caplog):
    monkeypatch.delenv("VQHPS_NO_TRACK", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9/")  # nothing listens on port 9
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    tracker = Tracker()
    with caplog.at_level(logging.WARNING):
        tracker.start("unit", "x", {"a": 1}, {})
        tracker.log_metrics({"m": 1.0})
        tracker.end()
    warnings = [r for r in caplog.records if "MLflow tracking is unavailable" in r.getMessage()]
    assert len(warnings) == 1


def test_run_environment_has_commit_and_hardware():
    tags = run_environment()
    assert {"git_commit", "cpu", "cpu_count", "torch"} <= set(tags)
