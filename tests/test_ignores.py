"""The default data_root holds licensed downloads: git and DVC ignore it, and only it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

INSIDE = ["data/3dpw/sequenceFiles/test/a.pkl", "data/body_models/smpl/SMPL_MALE.pkl"]
OUTSIDE = ["src/vqhps/data/splits.py", "tests/data/test_augment.py", "params.yaml"]


def _ignored(cmd: list[str], repo: Path) -> set[str]:
    out = subprocess.run([*cmd, *INSIDE, *OUTSIDE], cwd=repo, capture_output=True, text=True, timeout=120)
    return set(out.stdout.split())


def test_git_ignores_data_root_only(repo):
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    assert _ignored(["git", "check-ignore"], repo) == set(INSIDE)


def test_dvc_ignores_data_root_only(repo):
    dvc = Path(sys.executable).parent / "dvc"
    if not dvc.exists():
        pytest.skip("dvc not installed in this environment")
    assert _ignored([str(dvc), "check-ignore"], repo) == set(INSIDE)
