"""Image-training threads: all cores for a job alone, a share each side by side, applied by the stage."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from vqhps import pipeline
from vqhps.cli import StageContext

SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
ALL_DEMO_IMAGE_JOBS = 4  # train_vqhps and train_baseline, full and scarce
PIPE = pipeline.Pipeline({"demo": ("full", "scarce")})


def test_image_jobs_asked_counts_the_targeted_jobs() -> None:
    one = "results/demo/train_vqhps/full/model.pt"
    assert pipeline.image_jobs_asked(PIPE, "demo", [one]) == 1
    assert pipeline.image_jobs_asked(PIPE, "demo", [one, "./results/demo/train_vqhps/full/metrics.json"]) == 1
    assert pipeline.image_jobs_asked(PIPE, "demo", [one, "results/demo/train_baseline/scarce/model.pt"]) == 2
    for wide in (["demo"], [], ["results/demo/evaluate/metrics.json"], [one, "demo"]):
        assert pipeline.image_jobs_asked(PIPE, "demo", wide) == ALL_DEMO_IMAGE_JOBS, wide


@pytest.mark.parametrize(
    ("cores", "jobs", "threads"), [(2, 1, 2), (2, 2, 1), (2, 4, 1), (16, 4, 4), (1, 1, 1)]
)
def test_image_job_threads_share_the_cores(cores: int, jobs: int, threads: int) -> None:
    assert pipeline.image_job_threads(cores, jobs) == threads


def _train_threads(repo: Path, *targets: str) -> dict[str, int]:
    """Snakemake's dry run: threads of each image-training job (Snakemake prints none when it is 1)."""
    out = subprocess.run(
        [SNAKEMAKE, "-n", "-F", *targets, "--cores", "2"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    threads, job = {}, None
    for line in out.stdout.splitlines():
        if m := re.match(r"^rule (\w+):", line):
            job = m.group(1) if m.group(1) in pipeline.IMAGE_TRAINING_STAGES else None
        elif job and (m := re.match(r"^\s+wildcards: .*regime=(\w+)", line)):
            job = f"{job}.{m.group(1)}"
            threads[job] = 1
        elif job and "." in job and (m := re.match(r"^\s+threads: (\d+)", line)):
            threads[job] = int(m.group(1))
    return threads


def test_snakemake_gives_a_lone_image_job_both_cores(repo) -> None:
    assert _train_threads(repo, "results/demo/train_vqhps/full/model.pt") == {"train_vqhps.full": 2}
    side_by_side = _train_threads(repo, "demo")
    assert len(side_by_side) == ALL_DEMO_IMAGE_JOBS and set(side_by_side.values()) == {1}


@pytest.fixture
def _restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.usefixtures("_restore_threads")
def test_stage_takes_the_threads_snakemake_exports(monkeypatch) -> None:
    usable = len(os.sched_getaffinity(0))
    ctx = SimpleNamespace(device="cpu")
    monkeypatch.delenv("VQHPS_TORCH_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    StageContext.limit_cpu_threads(ctx)
    assert torch.get_num_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "64")  # more than this process may use: capped
    StageContext.limit_cpu_threads(ctx)
    assert torch.get_num_threads() == usable
    monkeypatch.setenv("VQHPS_TORCH_THREADS", "1")  # the user's override wins
    StageContext.limit_cpu_threads(ctx)
    assert torch.get_num_threads() == 1
    monkeypatch.delenv("VQHPS_TORCH_THREADS")
    monkeypatch.delenv("OMP_NUM_THREADS")
    torch.set_num_threads(usable)
    StageContext.limit_cpu_threads(ctx)  # neither set (DVC, a manual run): torch's default is kept
    assert torch.get_num_threads() == usable
    StageContext.limit_cpu_threads(SimpleNamespace(device="cuda"))
    assert torch.get_num_threads() == usable
