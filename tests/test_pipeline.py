"""One DAG: dvc.yaml is the generated form of src/vqhps/pipeline.py, and Snakemake's DAG agrees with it."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vqhps import pipeline
from vqhps.infra.code_deps import DATA_FILES, import_closure, stage_code

SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


PIPE = pipeline.Pipeline.load(Path(__file__).resolve().parents[1] / "params.yaml")


@pytest.mark.parametrize("experiment", pipeline.EXPERIMENTS)
def test_dvc_files_are_generated_from_pipeline(repo, experiment):
    committed = (repo / pipeline.DVC_FILES[experiment]).read_text()
    assert committed == PIPE.dvc_yaml_text(experiment), (
        f"{pipeline.DVC_FILES[experiment]} is stale: run `python -m vqhps.pipeline --write-dvc`"
    )


def test_every_stage_has_a_module_and_a_rule(repo):
    names = {n for e in pipeline.EXPERIMENTS for n in pipeline.stage_names(e)}
    for name in names:
        assert (repo / "src/vqhps/stages" / f"{name}.py").is_file(), name
        rule = (repo / "workflow/rules" / f"{name}.smk").read_text()
        assert f"rule {name}:" in rule
        assert f'stage_inputs("{name}")' in rule and f'stage_params("{name}")' in rule, (
            f"{name}.smk must take its inputs and params from the pipeline table"
        )
        assert f"python -m vqhps.stages.{name} " in rule


def _dry_run_jobs(repo: Path, target: str, cwd: Path | None = None) -> list[dict]:
    out = subprocess.run(
        [SNAKEMAKE, "-n", "-p", "-F", target, "--cores", "2"],
        cwd=cwd or repo,
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


def _jobs_by_key(jobs: list[dict]) -> dict:
    seen = {}
    for job in jobs:
        exp = re.search(r"experiment=(\w+)", job.get("wildcards", "")).group(1)
        regime = re.search(r"regime=(\w+)", job.get("wildcards", ""))
        seen[(exp, job["rule"], regime.group(1) if regime else None)] = job
    return seen


@pytest.mark.parametrize("experiment", pipeline.EXPERIMENTS)
def test_snakemake_dag_matches_pipeline_table(repo, experiment):
    seen = _jobs_by_key(_dry_run_jobs(repo, experiment))
    expected = {(experiment, name, regime) for name, regime in PIPE.jobs(experiment)}
    assert set(seen) == expected, "Snakemake and the pipeline table run different jobs"
    dvc = yaml.safe_load((repo / pipeline.DVC_FILES[experiment]).read_text())["stages"]
    for (exp, name, regime), job in seen.items():
        d = dvc[pipeline.job_name(exp, name, regime)]
        assert job["input"].split(", ") == d["deps"], f"{exp}.{name}: inputs differ"
        assert sorted(job["output"].split(", ")) == sorted(d["outs"] + d["metrics"]), (
            f"{exp}.{name}: outputs differ"
        )
        assert _strip_snakemake_only(job["shell"]) == d["cmd"], f"{exp}.{name}: commands differ"
        assert d["params"] == PIPE.param_keys(exp, name, regime)


def test_a_regime_added_in_params_gets_jobs_in_snakemake_and_dvc(repo, tmp_path):
    """The regimes come from <experiment>.regimes alone: a third one runs without touching code."""
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["demo"]["regimes"]["tiny"] = {"sources": ["anny"], "fraction": 0.025, "label": "2.5 %"}
    shutil.copy(repo / "Snakefile", tmp_path / "Snakefile")
    for name in ("workflow", "src"):
        shutil.copytree(
            repo / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
        )
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    seen = _jobs_by_key(_dry_run_jobs(repo, "demo", cwd=tmp_path))
    for stage in ("train_vqhps", "train_baseline"):
        assert ("demo", stage, "tiny") in seen, f"no {stage} job for the new regime"
    assert "results/demo/train_vqhps/tiny/model.pt" in seen[("demo", "evaluate", None)]["input"]
    out = subprocess.run(
        [sys.executable, "-m", "vqhps.pipeline", "--params", str(tmp_path / "params.yaml")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    stages = yaml.safe_load(out.stdout.split("# --- workflow/paper/dvc.yaml")[0])["stages"]
    assert stages["demo.train_vqhps.tiny"]["params"][-1] == "demo.regimes.tiny"
    assert "results/demo/train_baseline/tiny/curves.csv" in stages["demo.evaluate"]["deps"]


@pytest.mark.parametrize("experiment", pipeline.EXPERIMENTS)
def test_both_image_models_read_and_store_the_one_shared_section(repo, experiment):
    from vqhps.cli import job_params
    from vqhps.config import load_params

    stages = yaml.safe_load((repo / pipeline.DVC_FILES[experiment]).read_text())["stages"]
    exp = load_params(repo / "params.yaml").experiment(experiment)
    stored = []
    for stage in ("train_vqhps", "train_baseline"):
        keys = stages[f"{experiment}.{stage}.full"]["params"]
        assert keys[:3] == [f"{experiment}.seed", f"{experiment}.{stage}", f"{experiment}.image_training"]
        stored.append(job_params(exp, stage, "full")["image_training"])
    assert stored[0] == stored[1] and stored[0]["crop_size"] == exp.image_training.crop_size
    assert "image_training" not in job_params(exp, "train_mesh_vqvae", None)


def test_paper_stages_are_not_in_the_default_dvc_file(repo):
    """`dvc repro` / `dvc exp run` read ./dvc.yaml: the demo only, so they work without licensed data."""
    demo = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    paper = yaml.safe_load((repo / "workflow/paper/dvc.yaml").read_text())["stages"]
    assert all(k.startswith("demo.") for k in demo) and all(k.startswith("paper.") for k in paper)
    assert all(v["wdir"] == "../.." for v in paper.values())


def test_stage_code_deps_cover_every_imported_module(repo):
    """Import each stage module in a fresh process: every vqhps module it loads is one of its code deps."""
    for name in {n for e in pipeline.EXPERIMENTS for n in pipeline.stage_names(e)}:
        out = subprocess.run(
            [sys.executable, "-c", PROBE.format(module=f"vqhps.stages.{name}")],
            capture_output=True, text=True, check=True, cwd=repo,
        )  # fmt: skip
        loaded = set(out.stdout.split())
        assert loaded, name
        missing = loaded - set(stage_code(name))
        assert not missing, f"{name} imports {sorted(missing)}, which its code deps lack"
    assert "src/vqhps/models/bag_sum.py" in stage_code("train_mesh_vqvae")
    assert "src/vqhps/infra/seeding.py" in stage_code("train_vqhps")


PROBE = """
import sys, importlib
from pathlib import Path
importlib.import_module("{module}")
root = Path(sys.modules["vqhps"].__file__).resolve().parent
for name, m in sorted(sys.modules.items()):
    if (name == "vqhps" or name.startswith("vqhps.")) and getattr(m, "__file__", None):
        print("src/vqhps/" + Path(m.__file__).resolve().relative_to(root).as_posix())
"""


def test_import_closure_follows_lazy_relative_and_from_imports(tmp_path):
    pkg = tmp_path / "vqhps"
    for rel, text in {
        "__init__.py": "",
        "a.py": "def f():\n    from vqhps.sub import b\n",
        "sub/__init__.py": "",
        "sub/b.py": "from . import c\nfrom .c import thing\n",
        "sub/c.py": "import vqhps.d as dd\nthing = 1\n",
        "d.py": "import os\n",
        "unused.py": "",
    }.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    found = import_closure("vqhps.a", pkg)
    assert found == {"vqhps", "vqhps.a", "vqhps.sub", "vqhps.sub.b", "vqhps.sub.c", "vqhps.d"}


def test_every_package_data_file_is_a_declared_dependency(repo):
    data = {
        p.relative_to(repo / "src/vqhps").as_posix()
        for p in (repo / "src/vqhps").rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc")
    }
    declared = {f for files in DATA_FILES.values() for f in files}
    assert data <= declared, f"package data read by no declared module: {sorted(data - declared)}"
