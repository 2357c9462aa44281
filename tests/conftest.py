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


@pytest.fixture(autouse=True)
def _no_tracking_by_default(monkeypatch, request):
    if "mlflow_store" not in request.fixturenames:
        monkeypatch.setenv("VQHPS_NO_TRACK", "1")
