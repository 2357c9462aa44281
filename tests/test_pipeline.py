"""One DAG: dvc.yaml is the generated form of src/vqhps/pipeline.py, and Snakemake's DAG agrees with it."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vqhps import pipeline

SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


def test_dvc_yaml_is_generated_from_pipeline(repo):
    committed = (repo / "dvc.yaml").read_text()
    assert committed == pipeline.dvc_yaml_text(), (
        "dvc.yaml is stale: run `python -m vqhps.pipeline --write-dvc`"
    )


def test_every_stage_has_a_module_and_a_rule(repo):
    names = {s.name for stages in pipeline.EXPERIMENT_STAGES.values() for s in stages}
    for name in names:
        assert (repo / "src/vqhps/stages" / f"{name}.py").is_file(), name
        rule = (repo / "workflow/rules" / f"{name}.smk").read_text()
        assert f"rule {name}:" in rule
        assert f'stage_inputs("{name}")' in rule and f'stage_params("{name}")' in rule, (
            f"{name}.smk must take its inputs and params from the pipeline table"
        )
        assert f"python -m vqhps.stages.{name} " in rule


def _dry_run_jobs(repo: Path, target: str) -> list[dict]:
    out = subprocess.run(
        [SNAKEMAKE, "-n", "-p", "-F", target, "--cores", "2"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    jobs, job = [], None
    for line in (out.stdout + out.stderr).splitlines():
        if m := re.match(r"^(?:local)?rule (\w+):$", line):
            job = {"rule": m.group(1)}
            jobs.append(job)
        elif job is not None and (m := re.match(r"^\s+(input|output|wildcards): (.*)$", line)):
            job[m.group(1)] = m.group(2)
        elif job is not None and line.startswith("Shell command: "):
            job["shell"] = line[len("Shell command: ") :]
    return [j for j in jobs if j.get("shell", "None") != "None"]


def _strip_snakemake_only(cmd: str) -> str:
    """Snakemake adds the log file and its thread count; DVC runs the same command without them."""
    words = shlex.split(cmd)
    keep, skip = [], False
    for w in words:
        if skip:
            skip = False
        elif w in ("--log", "--workers"):
            skip = True
        else:
            keep.append(w)
    return " ".join(keep)


@pytest.mark.parametrize("experiment", sorted(pipeline.EXPERIMENT_STAGES))
def test_snakemake_dag_matches_pipeline_table(repo, experiment):
    jobs = _dry_run_jobs(repo, experiment)
    seen = {}
    for job in jobs:
        exp = re.search(r"experiment=(\w+)", job.get("wildcards", "")).group(1)
        regime = re.search(r"regime=(\w+)", job.get("wildcards", ""))
        seen[(exp, job["rule"], regime.group(1) if regime else None)] = job
    expected = {(experiment, name, regime) for name, regime in pipeline.jobs(experiment)}
    assert set(seen) == expected, "Snakemake and the pipeline table run different jobs"
    dvc = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    for (exp, name, regime), job in seen.items():
        d = dvc[pipeline.job_name(exp, name, regime)]
        assert job["input"].split(", ") == d["deps"], f"{exp}.{name}: inputs differ"
        metrics = [next(iter(m)) for m in d["metrics"]]
        plots = [next(iter(m)) for m in d.get("plots", [])]
        assert sorted(job["output"].split(", ")) == sorted(d["outs"] + plots + metrics), (
            f"{exp}.{name}: outputs differ"
        )
        assert _strip_snakemake_only(job["shell"]) == d["cmd"], f"{exp}.{name}: commands differ"
        assert d["params"] == pipeline.param_keys(exp, name)
