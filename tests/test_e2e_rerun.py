"""Re-runs that are right (end to end, tiny demo): two clean runs give the same bytes, a run killed with
SIGKILL in its training stages and re-run gives those bytes too, and every stage reads exactly what the
DAG declares. Beside the shared run (conftest.tiny_demo_run) these run the pipeline twice (minutes)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from helpers.e2e import BIN, chain_params, make_workdir, run
from vqhps.pipeline import Pipeline

pytestmark = pytest.mark.slow

SNAKEMAKE = str(BIN / "snakemake")
TIMING = ("seconds", "per_second")
GATE = "check_data/record.json"
# The stages before the Mesh-VQ-VAE (no training): the kill test reuses their outputs.
DATA_STAGES = ("check_data", "make_synthetic", "prepare_meshes", "render_images")
# What Snakemake exports to a job with that many threads (torch reads it; float sums depend on it).
THREADS = {
    n: {"OMP_NUM_THREADS": str(n), "MKL_NUM_THREADS": str(n)} for n in (1, 2)
}  # metrics.json keys that measure time, not results


def digests(results: Path) -> dict[str, str]:
    """sha256 of every output file of the demo (metrics.json without its timing keys; logs excluded)."""
    out = {}
    for path in sorted(p for p in (results / "demo").rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.name == "metrics.json":
            values = {k: v for k, v in json.loads(data).items() if not any(t in k for t in TIMING)}
            data = json.dumps(values, sort_keys=True).encode()
        out[path.relative_to(results).as_posix()] = hashlib.sha256(data).hexdigest()
    return out


@pytest.fixture(scope="module")
def clean_run(tiny_demo_run) -> tuple[Path, dict[str, str]]:
    work, _ = tiny_demo_run
    return work, digests(work / "results")


def test_two_clean_runs_give_the_same_bytes(repo, tmp_path, clean_run):
    _, first = clean_run
    work = make_workdir(repo, tmp_path, chain_params(repo))
    run([SNAKEMAKE, "demo", "--cores", "2"], work)
    second = digests(work / "results")
    assert set(second) == set(first)
    differ = sorted(k for k in first if first[k] != second[k])
    assert not differ, f"two clean runs differ in {differ}"
    assert any(k.endswith("train_mesh_vqvae/model.pt") for k in first)
    assert not any("/work/" in k for k in first), "a finished run leaves no work/ folder"


def _start_and_kill(work: Path, args: list[str], checkpoint: Path, threads: dict[str, str]) -> None:
    """Start a stage as Snakemake would, SIGKILL it as soon as its first resumable checkpoint exists."""
    proc = subprocess.Popen(
        ["python", "-m", *args],
        cwd=work,
        # as Snakemake starts it: its threads (1 per image job side by side, 2 for the Mesh-VQ-VAE) exported
        env={
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
            "VQHPS_NO_TRACK": "1",
            **threads,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while not checkpoint.is_file():
        assert proc.poll() is None, f"{args} ended before its first checkpoint"
        assert time.monotonic() < deadline, f"no checkpoint {checkpoint}"
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    out_dir = checkpoint.parent.parent
    assert not (out_dir / "model.pt").exists(), "killed before the end (else the test proves nothing)"


def _reuse_data_stages(src: Path, work: Path) -> None:
    """``work`` = a copy of the finished run ``src`` without the outputs and logs of every stage after the
    data stages: Snakemake re-runs exactly those (their outputs are missing), the data stages stay done.
    (The clean runs check the data stages' bytes; reusing them saves this test their ~25 % of a run.)"""
    shutil.copytree(src, work, symlinks=True)  # copy2 keeps mtimes: the kept outputs stay up to date
    for stage in {s for s, _ in Pipeline.load(work / "params.yaml").jobs("demo")}:
        if stage not in DATA_STAGES:
            shutil.rmtree(work / "results/demo" / stage, ignore_errors=True)
            for log in (work / "results/logs/demo").glob(f"{stage}*"):
                log.unlink()
    (work / "audit.jsonl").unlink(missing_ok=True)


def test_a_run_killed_in_its_training_stages_resumes_to_the_same_bytes(tmp_path, clean_run):
    src, clean = clean_run
    work = tmp_path / "work"
    _reuse_data_stages(src, work)
    res = work / "results/demo"
    pending = run([SNAKEMAKE, "demo", "--cores", "2", "-n"], work).stdout
    assert "train_mesh_vqvae" in pending and "make_synthetic" not in pending, pending
    vq_ckpt = res / "train_mesh_vqvae/work/last.pt"
    _start_and_kill(work, ["vqhps.stages.train_mesh_vqvae", "--experiment", "demo"], vq_ckpt, THREADS[2])
    resumed = run([SNAKEMAKE, "results/demo/train_mesh_vqvae/metrics.json", "--cores", "1"], work)
    log = (work / "results/logs/demo/train_mesh_vqvae.log").read_text()
    assert "discarded" not in log, "the killed run's own checkpoint is resumed, not discarded"
    assert resumed.returncode == 0
    img_ckpt = res / "train_vqhps/full/work/last.pt"
    args = ["vqhps.stages.train_vqhps", "--experiment", "demo", "--regime", "full"]
    _start_and_kill(work, args, img_ckpt, THREADS[1])
    run([SNAKEMAKE, "demo", "--cores", "2"], work)
    assert "discarded" not in (work / "results/logs/demo/train_vqhps.full.log").read_text()
    after = digests(work / "results")
    differ = sorted(k for k in clean if clean.get(k) != after.get(k))
    assert not differ and set(after) == set(clean), f"killed-and-resumed run differs in {differ}"


def test_every_stage_reads_and_imports_only_what_the_dag_declares(repo, clean_run):
    work, _ = clean_run
    pipe = Pipeline.load(work / "params.yaml")
    records = [json.loads(line) for line in (work / "audit.jsonl").read_text().splitlines()]
    assert {(r["stage"], r["regime"]) for r in records} == set(pipe.jobs("demo"))
    src = (repo / "src").resolve()
    for r in records:
        declared = {d.rstrip("/") for d in pipe.declared_deps("demo", r["stage"], r["regime"])}
        declared -= {GATE}  # an ordering gate: the data check must have passed; nothing in it is read
        assert set(r["opened"]) == declared, f"{r['stage']}: opened {r['opened']}, declares {declared}"
        code = set(pipe.inputs("demo", r["stage"], r["regime"]))
        imported = {"src/" + Path(m).relative_to(src).as_posix() for m in r["modules"]}
        assert imported <= code, f"{r['stage']} imported {sorted(imported - code)}, not in its deps"
