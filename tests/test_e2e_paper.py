"""End to end on the format-faithful fixture data root: `snakemake paper` through the paper's data stages,
the full paper DAG in a dry run, and a missing dataset stopping the run in check_data."""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from helpers.e2e import BIN, TINY_DEMO, make_workdir, run, update_section
from helpers.realdata_fixtures import BEDLAM_ANIMATION_FRAMES, write_fixture_root
from vqhps import pipeline
from vqhps.eval.released_rows import METHOD_NAME
from vqhps.eval.tables import read_table_csv
from vqhps.io.shards import ShardSet, load_vertices

pytestmark = pytest.mark.slow

CROP = 48
MAX_ROWS = {"3dpw_train": 10, "3dpw_validation": 6, "3dpw_test": 8, "emdb2_train": 5, "emdb2_val": 3}


@pytest.fixture(scope="module")
def fixture_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_fixture_root(root)
    return root


def workdir(repo, tmp_path, params):
    """make_workdir plus environment.yml, which the rules' `conda:` directive names (Snakemake records it)."""
    work = make_workdir(repo, tmp_path, params)
    shutil.copy2(repo / "environment.yml", work / "environment.yml")
    return work


def paper_params(repo, data_root) -> dict:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    paper = params["paper"]
    paper["data_root"] = str(data_root)
    paper["prepare_meshes"].update({"eval_frame_stride": 2, "shard_size": 40, "row_group_size": 20})
    paper["prepare_images"].update(
        {"crop_size": CROP, "max_rows": MAX_ROWS, "shard_size": 16, "row_group_size": 8, "chunk_size": 8}
    )
    # The model stages at toy size, with the paper's data: CPU backbone, regimes chosen by image source.
    mixture = ["coco", "mpii", "h36m_train", "mpi_inf_3dhp_train"]
    regimes = {
        "full": {"sources": mixture, "fraction": 1.0, "val_sources": ["3dpw"]},
        "scarce": {"sources": ["3dpw"], "fraction": 1.0, "val_sources": ["3dpw"], "test_sources": ["3dpw"]},
        "scarce_emdb": {
            "sources": ["emdb2"],
            "fraction": 1.0,
            "val_sources": ["emdb2"],
            "test_sources": ["emdb1"],
            "table": "scarce",
        },
    }
    paper["regimes"] = regimes
    tiny_images = {"backbone": "small_cnn", "pretrained": None, "shared_backbone": True}
    for stage in ("train_mesh_vqvae", "tokenize_meshes", "image_training", "train_vqhps", "train_baseline"):
        update_section(paper[stage], TINY_DEMO[stage])
    update_section(paper["evaluate"], TINY_DEMO["evaluate"])
    paper["evaluate"]["released_max_per_source"] = 1  # the fixture release: two CPU HRNet-W48 runs, not 25
    paper["image_training"].update(tiny_images, bbox_rescale=1.0)
    paper["image_training"]["augment"]["flip_prob"] = 0.0  # the fixture body is random, not symmetric
    return params


def test_snakemake_paper_builds_the_image_and_mesh_sets(repo, tmp_path, fixture_root):
    work = workdir(repo, tmp_path, paper_params(repo, fixture_root))
    dry = run([str(BIN / "snakemake"), "all", "-n", "--cores", "2"], work)
    for name in pipeline.stage_names("paper"):
        assert f"results/paper/{name}/" in dry.stdout, f"{name} missing from the dry run"
    run([str(BIN / "snakemake"), "paper", "--cores", "2"], work)
    res = work / "results/paper"

    meshes = ShardSet(res / "prepare_meshes/shards", "meshes")
    assert meshes.num_rows("train") == sum(BEDLAM_ANIMATION_FRAMES)  # every frame of the 3 animation files
    assert meshes.num_rows("val") > 0 and meshes.num_rows("test") > 0  # 3DPW people
    assert np.abs(load_vertices(meshes, "val").mean(1).numpy()).max() < 1e-5

    images = ShardSet(res / "prepare_images/images", "images")
    gt = ShardSet(res / "prepare_images/meshes", "meshes")
    want = {
        "train": {"coco": 3, "mpii": 3, "h36m_train": 3, "mpi_inf_3dhp_train": 3, "3dpw": 10, "emdb2": 5},
        "val": {"3dpw": 6, "emdb2": 3},
        "test": {"3dpw": 8, "emdb1": 17},  # EMDB-1: 17 sequences x 1 usable frame
    }
    context = paper_params(repo, fixture_root)["paper"]["prepare_images"]["context"]
    margin = round((context - 1) * CROP / 2)  # stored crop: the original's box (CROP px) with context around
    for split, per_source in want.items():
        table = images.read(split)
        sources, counts = np.unique(table.column("source").to_pylist(), return_counts=True)
        assert dict(zip(sources.tolist(), counts.tolist(), strict=True)) == per_source, split
        mesh_table = gt.read(split, ["id", "gender", "source"])
        assert table.column("mesh_id").to_pylist() == mesh_table.column("id").to_pylist()
        kp = np.stack(table.column("keypoints2d").to_numpy(zero_copy_only=False)).reshape(-1, 17, 3)
        conf = kp[..., 2] > 0
        assert np.all((kp[conf][:, :2] >= margin) & (kp[conf][:, :2] < margin + CROP)), (
            "confident keypoints lie in the original's box"
        )
        bbox = np.stack(table.column("bbox").to_numpy(zero_copy_only=False))
        assert np.all(bbox == [margin, margin, margin + CROP, margin + CROP])
        for blob in table.column("image").to_pylist()[:3]:
            assert Image.open(io.BytesIO(blob)).size == (CROP + 2 * margin,) * 2
        assert np.abs(load_vertices(gt, split).mean(1).numpy()).max() < 1e-5, "GT meshes are centred"
    coco = gt.read("train", ["source", "gender"]).to_pylist()
    assert [r["gender"] for r in coco if r["source"] == "coco"] == ["male", "female", "male"]
    assert {r["gender"] for r in coco if r["source"] == "mpii"} == {"neutral"}
    emdb = gt.read("test", ["source", "gender"]).to_pylist()
    assert {r["gender"] for r in emdb if r["source"] == "emdb1"} == {"neutral", "male", "female"}
    # the standard / emdb GT: the test rows again, from SMPL with the full 69-value pose (hands bent)
    full = ShardSet(res / "prepare_images/meshes/smpl_full_pose", "meshes")
    assert full.num_rows("train") == full.num_rows("val") == 0
    test_ids = gt.read("test", ["id"]).column("id").to_pylist()
    assert full.read("test", ["id"]).column("id").to_pylist() == test_ids
    assert {len(p) for p in full.read("test", ["pose"]).column("pose").to_pylist()} == {69}
    assert np.abs(load_vertices(full, "test").mean(1).numpy()).max() < 1e-5, "full-pose GT is centred"
    eval_log = (work / "results/logs/paper/evaluate.log").read_text()
    kinds = {"vqhps": "(flat hands)", "standard": "(SMPL, full pose)", "emdb": "(SMPL, full pose)"}
    for name, kind in kinds.items():
        lines = eval_log.splitlines()
        assert any(f"protocol {name}: ground truth" in line and kind in line for line in lines), name
    metrics = json.loads((res / "prepare_images/metrics.json").read_text())
    assert metrics["n_test"] == 25 and metrics["crop_size"] == CROP
    tables = (res / "make_tables/tables/main_table.md").read_text()
    for test_set in ("3DPW test", "EMDB-1"):  # reported apart, never averaged together
        assert f"| measured | paper datasets | {test_set} |" in tables, (
            f"no measured {test_set} row:\n{tables}"
        )
    assert "paper datasets" in tables and "VQ-HPS (measured)" in tables
    main_rows = read_table_csv(res / "make_tables/tables/main_table.csv")
    released = [r for r in main_rows if r["method"] == METHOD_NAME]
    assert {r["dataset"] for r in released} == {"3dpw", "emdb"}, "the fixture's release files give rows"
    assert all(r["pve_mm"] is not None for r in released)
    # the emdb protocol on EMDB-1 only; every measured cell with its interval; counts beside the numbers
    rows = [
        r
        for r in read_table_csv(res / "make_tables/tables/main_table.csv")
        if r["origin"] == "measured" and r["method"] != METHOD_NAME
    ]
    assert {r["protocol"] for r in rows if r["dataset"] == "emdb"} == {"vqhps", "standard", "emdb"}
    assert {r["protocol"] for r in rows if r["dataset"] == "3dpw"} == {"vqhps", "standard"}
    assert {r["n_frames"] for r in rows if r["dataset"] == "emdb"} == {17.0}
    assert all(r["pve_mm_lo"] <= r["pve_mm"] <= r["pve_mm_hi"] for r in rows)
    assert " ± " in tables
    # the evaluated test set: every frame of prepare_images' test split, with its (sequence, frame, person)
    test_set = pd.read_csv(res / "evaluate/test_set.csv")
    assert len(test_set) == 25 and test_set.groupby("source")["sequence"].nunique()["emdb1"] == 17
    frames = pd.read_csv(res / "prepare_images/images/test_frames.csv")
    assert sorted(frames["id"]) == sorted(test_set["id"])
    evaluated = json.loads((res / "evaluate/metrics.json").read_text())
    assert evaluated["n_frames"] == 25 and evaluated["emdb1:vqhps_full/n_frames"] == 17
    assert (
        evaluated["emdb1:vqhps_full-baseline_full/emdb/pve_mm_lo"]
        <= evaluated["emdb1:vqhps_full-baseline_full/emdb/pve_mm"]
    )
    scarce = (res / "make_tables/tables/scarce_table.md").read_text()  # EMDB row: from scarce_emdb
    for test_set in ("3DPW test", "EMDB-1"):
        assert f"| measured | paper datasets | {test_set} |" in scarce, f"no {test_set} row:\n{scarce}"
    assert (res / "train_vqhps/scarce_emdb/model.pt").is_file()
    again = run([str(BIN / "snakemake"), "paper", "--cores", "2", "-n"], work)
    assert "Nothing to be done" in again.stdout + again.stderr


def test_one_missing_dataset_is_the_only_one_listed(repo, tmp_path, fixture_root):
    data = tmp_path / "data"
    shutil.copytree(fixture_root, data, ignore=shutil.ignore_patterns("emdb"))
    work = workdir(repo, tmp_path, paper_params(repo, data))
    out = run([str(BIN / "snakemake"), "paper", "--cores", "2"], work, check=False)
    text = out.stdout + out.stderr
    assert out.returncode != 0 and "Traceback" not in text
    log = (work / "results/logs/paper/check_data.log").read_text()
    assert "EMDB" in log
    for other in ("3DPW", "SMPL+H", "BEDLAM animation", "HRNet", "H36M joint regressor"):
        assert other not in log, f"{other} was listed although present:\n{log}"
    assert not (work / "results/paper/prepare_meshes").exists()
