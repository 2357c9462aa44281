"""The README's full-topology Mesh-VQ-VAE command runs end to end (a few steps) and reports its figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_full_topology_run_writes_its_metrics(tmp_path):
    env = os.environ | {"PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, str(ROOT / "benchmarks" / "run_vqvae_full_topology.py"), "--out", "out"]
    cmd += ["--train-meshes", "6", "--val-meshes", "3", "--steps", "2", "--batch-size", "2", "--threads", "1"]
    res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["n_vertices"] == 13718
    assert 40 <= metrics["n_tokens"] <= 70  # "near 54" (the chosen levels give 52)
    assert metrics["val_pve_mm"] > 0 and (tmp_path / "out" / "model.pt").is_file()
    assert "val PVE" in res.stdout
    again = [*cmd, "--steps", "3"]  # the same --out with other settings: refused, nothing resumed
    other = subprocess.run(again, cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert other.returncode == 2 and "model.pt was written with other settings" in other.stderr
    assert "--out" in other.stderr  # names the fix
