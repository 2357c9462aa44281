"""Shared fixtures: repository paths, a temporary MLflow store, tracking off by default."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture
def mlflow_store(tmp_path, monkeypatch) -> str:
    """A throw-away SQLite MLflow store; the stage under test logs there."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("VQHPS_NO_TRACK", raising=False)
    return uri


@pytest.fixture
def one_torch_thread():
    """Tiny models on a shared 2-core machine: one torch thread is several times faster than two."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _no_tracking_by_default(monkeypatch, request):
    if "mlflow_store" not in request.fixturenames:
        monkeypatch.setenv("VQHPS_NO_TRACK", "1")


@pytest.fixture(scope="session")
def tiny_demo_run(repo, tmp_path_factory):
    """One tiny demo chain run by `snakemake demo --cores 2`, MLflow on (a sqlite store beside it) and the
    stages' input audit on; shared by the slow end-to-end tests (outputs, determinism, report, DAG audit).

    Returns ``(work dir, tracking URI)``.
    """
    import mlflow

    from helpers.e2e import BIN, chain_params, make_workdir, run

    base = tmp_path_factory.mktemp("tiny_demo")
    work = make_workdir(repo, base, chain_params(repo))
    uri = f"sqlite:///{base / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)  # create the store once, before two jobs open it side by side
    mlflow.set_experiment("vqhps/demo")
    env = {"VQHPS_NO_TRACK": "0", "MLFLOW_TRACKING_URI": uri, "VQHPS_AUDIT_INPUTS": str(work / "audit.jsonl")}
    run([str(BIN / "snakemake"), "demo", "--cores", "2"], work, env=env)
    return work, uri
