"""A Snakemake user's habits, as typed: no activated venv, --config overrides, the SLURM profile."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from helpers.e2e import BIN, make_workdir, tiny_params

SNAKEMAKE = str(BIN / "snakemake")


def _snakemake(args: list[str], cwd: Path, path: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "VQHPS_NO_TRACK": "1", "PATH": path or os.environ["PATH"]}
    return subprocess.run([SNAKEMAKE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_venv_snakemake_runs_a_stage_without_an_activated_venv(repo, tmp_path):
    """`.venv/bin/snakemake ...` with the system PATH: the rules' `python` is the venv's interpreter."""
    work = make_workdir(repo, tmp_path, tiny_params(repo))
    out = _snakemake(["results/demo/check_data/metrics.json", "--cores", "1"], work, path="/usr/bin:/bin")
    assert out.returncode == 0, out.stdout + out.stderr
    assert (work / "results/demo/check_data/record.json").is_file()


@pytest.mark.parametrize(
    "override",
    [
        ["--config", 'demo={"image_training":{"steps":-5}}'],  # invalid value
        ["--config", 'demo={"image_training":{"steps":50}}'],  # valid value
        ["--configfile", "other.yaml"],  # a second file (with a typo'd key)
    ],
)
def test_snakemake_overrides_are_refused_in_one_line(repo, override):
    other = repo / "other.yaml"
    other.write_text("demo:\n  train_vqhsp: {steps: 10}\n")
    try:
        out = _snakemake(["demo", "-n", "--cores", "1", *override], repo)
    finally:
        other.unlink()
    text = out.stdout + out.stderr
    assert out.returncode != 0 and "Traceback" not in text
    assert "overrides are not used here: the stages read params.yaml" in text
    assert "dvc exp run -S" in text, "says how to change a parameter"


def test_slurm_profile_passes_the_executor_plugins_validation(repo):
    validation = pytest.importorskip("snakemake_executor_plugin_slurm.validation")
    profile = yaml.safe_load((repo / "workflow/profiles/slurm/config.yaml").read_text())
    per_rule = profile.get("set-resources", {})
    for resources in [{}, *per_rule.values()]:
        merged = {**profile["default-resources"], **resources}
        validation.validate_slurm_extra(SimpleNamespace(resources=SimpleNamespace(**merged)))
    with pytest.raises(Exception, match="not allowed in the 'slurm_extra'"):  # the check can fail
        validation.validate_slurm_extra(
            SimpleNamespace(resources=SimpleNamespace(slurm_extra="--gres=gpu:1"))
        )
    # The README's `snakemake all --profile workflow/profiles/slurm`, dry run (no cluster here).
    out = _snakemake(["all", "-n", "--profile", "workflow/profiles/slurm"], repo)
    assert out.returncode == 0, out.stdout + out.stderr


def test_snakemake_study_dry_run_plans_every_study_regime(repo):
    """`snakemake study --cores 2` (README), dry run: both models of every (fraction, seed) regime, then the
    study's own stage, and nothing of the paper."""
    params = yaml.safe_load((repo / "params.yaml").read_text())["demo"]["scarce_study"]
    out = _snakemake(["study", "-n", "--forceall", "--cores", "2"], repo)
    assert out.returncode == 0, out.stdout + out.stderr
    regimes = len(params["fractions"]) * len(params["seeds"])
    for stage, count in (("train_vqhps", regimes), ("train_baseline", regimes), ("scarce_study", 1)):
        assert re.search(rf"^{stage}\s+{count}$", out.stdout, re.M), out.stdout
    assert "results/paper" not in out.stdout
