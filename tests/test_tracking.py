"""MLflow through vqhps.tracking: params, metrics, commit and hardware logged; failures never stop a stage,
nor cost minutes; finals apart from curves; killed runs closed; runs grouped by pipeline run."""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vqhps.tracking import (
    HTTP_DEFAULTS,
    PIPELINE_RUN_ENV,
    Tracker,
    pipeline_run_id,
    process_tags,
    run_environment,
    run_is_dead,
    tracked_run,
)

SRC = Path(__file__).resolve().parents[1] / "src"


def _runs(uri: str, experiment: str = "vqhps/unit"):
    import mlflow

    mlflow.set_tracking_uri(uri)
    return mlflow.tracking.MlflowClient(), mlflow.search_runs(experiment_names=[experiment])


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


def _stage_like_run(tracker_params: dict) -> None:
    """What stage_main does with a tracker: start, curve points, an artifact, the finals, the end."""
    with tracked_run("unit", "train_vqhps.full", tracker_params, tags={"k": "v"}) as tracker:
        for step in (1, 2):
            tracker.log_metrics({"val_loss": 1.0 / step}, step=step)
        tracker.log_artifact(__file__)
        tracker.tag_upstream_model("tokenizer", __file__)
        tracker.log_final({"val_loss": 0.5, "stage_seconds": 1.0})


@pytest.fixture
def mlflow_defaults(monkeypatch):
    """MLflow's own HTTP retry settings (7 retries, ~4 minutes on a dead server), as a user has them."""
    monkeypatch.delenv("VQHPS_NO_TRACK", raising=False)
    for key in HTTP_DEFAULTS:
        monkeypatch.delenv(key, raising=False)


@pytest.mark.parametrize("server", ["refused", "silent"])
def test_unreachable_server_fails_over_in_seconds(server, mlflow_defaults, monkeypatch, caplog):
    """Nothing on the port (refused), or a socket that accepts and never answers (silent): the stage-like
    run completes in seconds and warns once."""
    with socket.socket() as sock:
        if server == "silent":
            sock.bind(("127.0.0.1", 0))
            sock.listen(8)
            uri = f"http://127.0.0.1:{sock.getsockname()[1]}"
        else:
            uri = "http://127.0.0.1:9"  # nothing listens on port 9 (discard)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        started = time.perf_counter()
        with caplog.at_level(logging.WARNING):
            _stage_like_run({"seed": 1})
        seconds = time.perf_counter() - started
    warnings = [r for r in caplog.records if "MLflow tracking is unavailable" in r.getMessage()]
    assert len(warnings) == 1 and uri in warnings[0].getMessage()
    assert seconds < 15, f"{seconds:.1f} s with an unreachable tracking server"


def test_finals_logged_apart_from_curves(mlflow_store):
    """A validation curve holds only its steps; the final value is final/<key>, not a point at step 0."""
    _stage_like_run({"seed": 1})
    client, runs = _runs(mlflow_store)
    run = runs.iloc[0]
    history = client.get_metric_history(run["run_id"], "val_loss")
    assert [(m.step, m.value) for m in history] == [(1, 1.0), (2, 0.5)]
    assert run["metrics.final/val_loss"] == 0.5 and run["metrics.final/stage_seconds"] == 1.0
    assert run["tags.k"] == "v" and run["status"] == "FINISHED"


_KILLED_CHILD = """
import os, signal, sys
from vqhps.tracking import tracked_run
with tracked_run("unit", "train_vqhps.full", {"seed": 1}) as tracker:
    print(tracker.run_id, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # as a killed Snakemake job: no end_run
"""


def test_killed_run_closed_as_killed_on_next_start(mlflow_store):
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    child = subprocess.run(
        [sys.executable, "-c", _KILLED_CHILD], capture_output=True, text=True, env=env, timeout=300
    )
    assert child.returncode < 0, child.stderr
    killed_id = child.stdout.strip()
    client, _ = _runs(mlflow_store)
    assert client.get_run(killed_id).info.status == "RUNNING"
    tags = client.get_run(killed_id).data.tags
    dead_tags = {k: tags[k] for k in ("vqhps.pid", "vqhps.pid_start", "host") if k in tags}
    assert dead_tags["vqhps.pid"].isdigit() and dead_tags["host"] == platform.node()
    # RUNNING runs that must stay: a live process here, a process on another host, another run name.
    exp_id = client.get_experiment_by_name("vqhps/unit").experiment_id
    name = "train_vqhps.full"
    live = client.create_run(exp_id, run_name=name, tags={**process_tags(), "host": platform.node()})
    remote = client.create_run(exp_id, run_name=name, tags={"vqhps.pid": "1", "host": "elsewhere"})
    other = client.create_run(exp_id, run_name="evaluate", tags=dead_tags)
    with tracked_run("unit", name, {"seed": 1}) as tracker:
        assert tracker.run_id not in {killed_id, live.info.run_id}
    assert client.get_run(killed_id).info.status == "KILLED"
    for kept in (live, remote, other):
        assert client.get_run(kept.info.run_id).info.status == "RUNNING"


def test_reused_pid_is_dead():
    """A pid that exists again but started at another time is another process."""
    tags = {**process_tags(), "host": platform.node()}
    assert not run_is_dead(tags)
    if "vqhps.pid_start" not in tags:
        pytest.skip("no /proc: process start times unknown")
    assert run_is_dead({**tags, "vqhps.pid_start": str(int(tags["vqhps.pid_start"]) + 1)})
    assert not run_is_dead({**tags, "host": "elsewhere", "vqhps.pid_start": "0"})


def test_stage_runs_of_one_invocation_share_a_pipeline_run(mlflow_store, monkeypatch):
    monkeypatch.setenv(PIPELINE_RUN_ENV, "snakemake-h-1-20260101T000000Z")
    for stage in ("prepare_meshes", "evaluate"):
        with tracked_run("unit", stage, {"seed": 1}):
            pass
    _, runs = _runs(mlflow_store)
    assert set(runs["tags.vqhps.pipeline_run"]) == {"snakemake-h-1-20260101T000000Z"}


def test_pipeline_run_from_a_driver_ancestor(tmp_path, monkeypatch):
    """No env var (dvc repro): the stages of one driver process share its id; another driver, another id."""
    if not Path("/proc/self/stat").is_file():
        pytest.skip("no /proc")
    monkeypatch.delenv(PIPELINE_RUN_ENV, raising=False)
    driver = tmp_path / "dvc"  # a stand-in driver, named as DVC's entry point is
    stage = "from vqhps.tracking import pipeline_run_id; print(pipeline_run_id())"
    driver.write_text(
        f"#!{sys.executable}\nimport os, subprocess, sys\nprint(os.getpid())\n"
        f"for _ in range(2):\n    subprocess.run(['/bin/sh', '-c', sys.executable + ' -c \"{stage}\"'])\n"
    )
    driver.chmod(0o755)
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    outs = [
        subprocess.run([str(driver)], capture_output=True, text=True, env=env, check=True) for _ in range(2)
    ]
    (pid1, a, b), (pid2, c, d) = (o.stdout.split() for o in outs)
    assert a == b and c == d and a != c
    assert a.startswith(f"dvc-{platform.node()}-{pid1}-") and c.startswith(f"dvc-{platform.node()}-{pid2}-")
    assert pipeline_run_id() != a


def test_train_run_records_the_tokenizer_it_used(mlflow_store, tmp_path):
    model = tmp_path / "model.pt"
    model.write_bytes(b"tokenizer weights")
    with tracked_run("unit", "train_mesh_vqvae", {"seed": 1}) as tracker:
        tracker.tag_model(model)
        tokenizer_run = tracker.run_id
    with tracked_run("unit", "train_vqhps.full", {"seed": 1}) as tracker:
        tracker.tag_upstream_model("tokenizer", model)
    client, runs = _runs(mlflow_store)
    train = runs[runs["tags.mlflow.runName"] == "train_vqhps.full"].iloc[0]
    assert train["tags.vqhps.tokenizer_sha256"] == hashlib.sha256(b"tokenizer weights").hexdigest()
    assert train["tags.vqhps.tokenizer_run_id"] == tokenizer_run
    model.write_bytes(b"another tokenizer")  # a file no run wrote: its hash, no run id
    with tracked_run("unit", "train_vqhps.scarce", {"seed": 1}) as tracker:
        tracker.tag_upstream_model("tokenizer", model)
        scarce_run = tracker.run_id
    tags = client.get_run(scarce_run).data.tags
    assert tags["vqhps.tokenizer_sha256"] == hashlib.sha256(b"another tokenizer").hexdigest()
    assert "vqhps.tokenizer_run_id" not in tags
