"""Helpers for tests that run the real Snakemake/DVC pipeline in a throw-away copy of the repository."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

BIN = Path(sys.executable).parent
# environment.yml: the rules name it as their conda env, and Snakemake records it with every job.
COPIED = ("Snakefile", "workflow", "dvc.yaml", "src", ".dvcignore", "environment.yml")

# Scarce = half of the 6 tiny train images (smaller than a batch: the trainer repeats them).
_TINY_REGIMES = {
    "full": {"sources": ["anny"], "fraction": 1.0},
    "scarce": {"sources": ["anny"], "fraction": 0.5},
}
# What the tiny VQ-HPS and regression-baseline runs share (params image_training: crops, optimiser budget).
_TINY_IMAGE_TRAINING = {
    "backbone_width": 8,
    "crop_size": 32,
    "rotcam_hidden": 32,
    "batch_size": 4,
    "steps": 4,
    "val_every": 2,
    "ckpt_every": 2,
    "max_val_images": 2,
}

# The demo experiment at toy size: every stage does the real thing on a handful of items.
TINY_DEMO = {
    "make_synthetic": {"topology": "notoes_collapse10pc", "n_meshes": 24, "batch_size": 12},
    "prepare_meshes": {"shard_size": 8, "row_group_size": 4},
    "render_images": {"image_size": 64, "views_per_mesh": 1, "max_meshes": {"train": 6, "val": 2, "test": 2}},
    "train_mesh_vqvae": {"steps": 12, "batch_size": 4, "val_every": 6, "ckpt_every": 6, "max_val_meshes": 4},
    "tokenize_meshes": {"batch_size": 8, "shard_size": 10},
    "image_training": _TINY_IMAGE_TRAINING,
    "train_vqhps": {"model": {"d_model": 32, "heads": 2, "ffn": 64}},
    "train_baseline": {"model": {"hidden": 32, "rank": 8}},
    "evaluate": {"batch_size": 4, "overlay_samples": 2, "overlay_size": 48, "histogram_bins": 5},
}


def update_section(section: dict, values: dict) -> None:
    """``section.update(values)``, a nested mapping (a stage's ``model:``) updated rather than replaced."""
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(section.get(key), dict):
            update_section(section[key], value)
        else:
            section[key] = value


def tiny_params(repo: Path) -> dict:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    demo = copy.deepcopy(params["demo"])
    for section, values in TINY_DEMO.items():
        update_section(demo[section], values)
    demo["regimes"] = copy.deepcopy(_TINY_REGIMES)
    params["demo"] = demo
    return params


def chain_params(repo: Path) -> dict:
    """The tiny demo with enough training steps that a kill lands between a first checkpoint and the end
    (the shared end-to-end run of ``conftest.tiny_demo_run`` and the kill test use it)."""
    params = tiny_params(repo)
    params["demo"]["train_mesh_vqvae"].update(steps=60, val_every=20, ckpt_every=5)
    params["demo"]["image_training"].update(steps=24, val_every=8, ckpt_every=4)
    return params


def make_workdir(repo: Path, tmp: Path, params: dict) -> Path:
    """A copy of the pipeline files with its own params.yaml, git repository and DVC project."""
    work = tmp / "work"
    work.mkdir()
    for name in COPIED:
        src = repo / name
        if src.is_dir():
            shutil.copytree(src, work / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        elif src.exists():
            shutil.copy2(src, work / name)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "init", "-q"], work)
    run([str(BIN / "dvc"), "init", "-q"], work)
    run([str(BIN / "dvc"), "config", "core.analytics", "false"], work)
    run([str(BIN / "dvc"), "config", "cache.type", "hardlink,symlink"], work)
    return work


def run(
    cmd: list[str], cwd: Path, check: bool = True, timeout: int = 900, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "VQHPS_NO_TRACK": "1",
        "DVC_NO_ANALYTICS": "1",
        **(env or {}),
    }
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return out
