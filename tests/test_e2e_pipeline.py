"""End to end: the real Snakemake and DVC pipeline on a tiny demo, the paper command without data,
and a mistyped key. These start real processes (Anny, torch) and take a minute or two."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
import yaml

from helpers.e2e import BIN, make_workdir, run, tiny_params
from vqhps.eval.measured_rows import METHOD_NAMES
from vqhps.io.shards import ShardSet, load_vertices
from vqhps.pipeline import Pipeline

pytestmark = pytest.mark.slow


def test_snakemake_demo_end_to_end(tiny_demo_run):
    work, _ = tiny_demo_run  # `snakemake demo --cores 2` on the tiny demo
    shards = ShardSet(work / "results/demo/prepare_meshes/shards", "meshes")
    assert sum(shards.num_rows(s) for s in ("train", "val", "test")) == 24
    verts = load_vertices(shards, "train")
    assert np.abs(verts.mean(1).numpy()).max() < 1e-5, "meshes must be centred"
    images = ShardSet(work / "results/demo/render_images/images", "images")
    assert images.num_rows("train") == 6 and images.num_rows("test") == 2
    stages = ("check_data", "make_synthetic", "prepare_meshes", "render_images", "evaluate", "make_tables")
    for stage in stages:
        assert (work / f"results/demo/{stage}/metrics.json").is_file(), stage
    assert (work / "results/demo/evaluate/plots/overlays.png").is_file()
    for stem in ("main", "scarce"):
        table = (work / f"results/demo/make_tables/tables/{stem}_table.md").read_text()
        for name in METHOD_NAMES.values():  # VQ-HPS, the regression baseline and the oracle
            assert name in table, f"{stem} table lacks {name}"
        assert "synthetic demo" in table
    again = run([str(BIN / "snakemake"), "demo", "--cores", "2", "-n"], work)
    assert "Nothing to be done" in again.stdout + again.stderr


def test_plain_dvc_repro_runs_the_demo_and_reruns_only_what_changed(repo, tmp_path):
    """`dvc repro` as the README types it (./dvc.yaml = the demo: no licensed data needed); then a param
    change and a code edit re-run exactly the stages downstream of them."""
    params = tiny_params(repo)
    work = make_workdir(repo, tmp_path, params)
    first = run([str(BIN / "dvc"), "repro"], work)
    ran = set(re.findall(r"Running stage '([\w.]+)'", first.stdout))
    assert ran == {
        f"demo.{n}" + (f".{r}" if r else "") for n, r in Pipeline.load(work / "params.yaml").jobs("demo")
    }
    assert not re.search(r"Running stage 'paper\.", first.stdout), "no paper stage in plain `dvc repro`"
    # A code edit in a module the Mesh-VQ-VAE imports only indirectly (vcconv -> bag_sum).
    with open(work / "src/vqhps/models/bag_sum.py", "a") as fh:
        fh.write("\n# edited\n")
    status = run([str(BIN / "dvc"), "status"], work).stdout
    changed = set(re.findall(r"^(demo\.[\w.]+):", status, re.M))
    assert "demo.train_mesh_vqvae" in changed and "demo.make_synthetic" not in changed, status
    (work / "src/vqhps/models/bag_sum.py").write_text((repo / "src/vqhps/models/bag_sum.py").read_text())
    params["demo"]["prepare_meshes"]["shard_size"] = 5
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = run([str(BIN / "dvc"), "status"], work).stdout
    assert "demo.prepare_meshes" in status and "demo.make_synthetic" not in status
    second = run([str(BIN / "dvc"), "repro", "demo.render_images"], work).stdout
    ran = set(re.findall(r"Running stage '([\w.]+)'", second))
    assert ran == {"demo.prepare_meshes", "demo.render_images"}, second
    assert "demo.make_synthetic' didn't change" in second and "demo.check_data' didn't change" in second
    files = ShardSet(work / "results/demo/prepare_meshes/shards", "meshes").files("train")
    assert len(files) == 4, "20 train meshes at 5 per shard -> 4 files: the new parameter took effect"


def test_paper_command_without_data_fails_fast_listing_everything(repo, tmp_path):
    work = make_workdir(repo, tmp_path, tiny_params(repo))
    start = time.perf_counter()
    out = run([str(BIN / "snakemake"), "all", "--cores", "8", "--resources", "gpu=1"], work, check=False)
    elapsed = time.perf_counter() - start
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert elapsed < 30, f"took {elapsed:.1f} s"
    assert "Traceback" not in text
    datasets = yaml.safe_load((repo / "params.yaml").read_text())["paper"]["check_data"]["datasets"]
    for name in datasets:
        assert re.search(rf"\b{re.escape(name)}\b", text, re.I), f"{name} not listed:\n{text}"
    written = [p for p in (work / "results").rglob("*") if p.is_file() and "logs" not in p.parts]
    assert written == [], f"no output may be written, found {written}"


def test_mistyped_key_fails_before_any_job(repo, tmp_path):
    params = tiny_params(repo)
    params["demo"]["render_images"]["imgae_size"] = params["demo"]["render_images"].pop("image_size")
    work = make_workdir(repo, tmp_path, params)
    out = run([str(BIN / "snakemake"), "demo", "--cores", "2"], work, check=False)
    assert out.returncode != 0
    assert "demo.render_images.imgae_size" in out.stdout + out.stderr
    assert not (work / "results").exists(), "no stage may run"


def test_paper_dvc_file_without_data_stops_in_check_data_listing_everything(repo, tmp_path):
    """`dvc repro workflow/paper/dvc.yaml` (README) without the data: check_data's one listing, no output."""
    work = make_workdir(repo, tmp_path, tiny_params(repo))
    out = run([str(BIN / "dvc"), "repro", "workflow/paper/dvc.yaml"], work, check=False)
    text = out.stdout + out.stderr
    assert out.returncode != 0 and "Traceback" not in text
    assert "paper.check_data" in text and "paper.prepare_meshes" not in re.findall(
        r"Running stage '([\w.]+)'", text
    )
    datasets = yaml.safe_load((repo / "params.yaml").read_text())["paper"]["check_data"]["datasets"]
    required = [d for d in datasets if d not in ("mesh_connections", "released_weights")]
    for name in required:
        assert re.search(rf"\b{re.escape(name)}\b", text, re.I), f"{name} not listed:\n{text}"
    assert not (work / "results/paper/check_data/record.json").exists()
