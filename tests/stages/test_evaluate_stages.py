"""evaluate and make_tables stages: tiny image set, tiny trained models, outputs, metrics, tables."""

from __future__ import annotations

import copy
import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
import yaml
from PIL import Image

from helpers import image_fixtures as fx
from helpers.image_stages import BASELINE, COMMON, REGIMES, VQHPS, write_tokenizer
from helpers.image_stages import stage_argv as _argv
from vqhps.eval.measured_rows import METHOD_NAMES
from vqhps.eval.protocols import DEFAULT_PROTOCOLS as PROTOCOLS  # noqa: E402  (the demo's)
from vqhps.eval.tables import read_table_csv
from vqhps.io.schemas import IMAGES, MESHES
from vqhps.io.shards import ShardWriter, write_template
from vqhps.stages import evaluate, make_tables, train_baseline, train_vqhps

SPLITS = {"train": 6, "val": 2, "test": 5}
EVALUATE = {
    "protocols": ["vqhps", "standard"],
    "batch_size": 2,
    "max_test_images": -1,
    "overlay_samples": 3,
    "overlay_size": 48,
    "histogram_bins": 5,
}
MAKE_TABLES = {
    "data": "synthetic demo",
    "dataset": "tiny test",
    "backbone": "small_cnn",
    "protocols": ["vqhps", "standard"],
}


def _write_image_set(root: Path) -> None:
    """Images and GT meshes for train/val/test; the test images carry a pinhole camera, the others NaN."""
    img_w = ShardWriter(root / "images", IMAGES, 17, shard_size=8, row_group_size=8)
    mesh_w = ShardWriter(root / "meshes", MESHES, fx.N_VERTS, shard_size=8, row_group_size=8)
    verts = fx.meshes(sum(SPLITS.values()), 11)
    rng = np.random.default_rng(0)
    i = 0
    for split, n in SPLITS.items():
        for _ in range(n):
            buf = io.BytesIO()
            Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(buf, format="PNG")
            mesh_w.add(
                {
                    "id": [f"m{i}"],
                    "source": ["anny"],
                    "split": [split],
                    "pose": [np.zeros(3)],
                    "vertices": verts[i : i + 1].reshape(1, -1),
                    "shape": [np.zeros(2)],
                    "gender": ["neutral"],
                }
            )
            has_cam = split == "test"
            K = np.array([[50.0, 0, 20], [0, 50.0, 20], [0, 0, 1]], np.float32) if has_cam else np.nan
            kp = np.concatenate([rng.uniform(8, 32, (17, 2)), np.ones((17, 1))], 1).astype(np.float32)
            img_w.add(
                {
                    "id": [f"img{i}"],
                    "mesh_id": [f"m{i}"],
                    "source": ["anny"],
                    "split": [split],
                    "image": [buf.getvalue()],
                    "height": [40],
                    "width": [40],
                    "keypoints2d": kp.reshape(1, -1),
                    "bbox": np.array([[5, 5, 35, 35]], np.float32),
                    "global_rot": np.eye(3, dtype=np.float32).reshape(1, 9),
                    "cam_K": np.full((1, 9), np.nan, np.float32) if not has_cam else K.reshape(1, 9),
                    "cam_R": np.eye(3, dtype=np.float32).reshape(1, 9)
                    if has_cam
                    else np.full((1, 9), np.nan, np.float32),
                    "cam_t": np.array([[0, 0, 3.0]], np.float32)
                    if has_cam
                    else np.full((1, 3), np.nan, np.float32),
                }
            )
            i += 1
    img_w.close()
    mesh_w.close()
    write_template(root / "meshes", fx.topology())


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """Trains tiny VQ-HPS and baseline models (2 steps) in both regimes once for the module's tests."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("eval")
    results = root / "results"
    _write_image_set(results / "demo/render_images")
    write_tokenizer(results)
    (results / "demo/train_mesh_vqvae/curves.csv").write_text("step,val_pve_mm\n1,10.0\n2,8.0\n")
    common = {**copy.deepcopy(COMMON), "steps": 2, "val_every": 2}
    params = {
        "demo": {
            "seed": 0,
            "data_root": "data",
            "check_data": {"datasets": ["anny"]},
            "regimes": {
                **REGIMES,
                "full": {**REGIMES["full"], "label": "all"},
                "scarce": {**REGIMES["scarce"], "label": "half"},
            },  # fmt: skip
            "image_training": common,
            "train_vqhps": VQHPS,
            "train_baseline": BASELINE,
            "evaluate": EVALUATE,
            "make_tables": MAKE_TABLES,
        }
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    for stage in (train_vqhps, train_baseline):
        for regime in ("full", "scarce"):
            assert stage.main(_argv(root, regime)) == 0
    yield root
    torch.set_num_threads(threads)


def test_evaluate_writes_per_sample_errors_means_and_plots(project):
    assert evaluate.main(_argv(project)) == 0
    out = project / "results/demo/evaluate"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_test"] == SPLITS["test"]
    table = pq.read_table(out / "per_sample.parquet").to_pandas()
    assert len(table) == SPLITS["test"] * 6 * len(PROTOCOLS)  # samples x methods x protocols
    assert set(table["id"]) == {f"img{i}" for i in range(8, 13)}
    for label in ("vqhps_full", "vqhps_scarce", "baseline_full", "baseline_scarce", "oracle", "constant"):
        method, _, regime = label.partition("_")
        rows = table[
            (table.method == method) & (table.regime == (regime or "none")) & (table.protocol == "standard")
        ]
        assert metrics[f"{label}/standard/pve_mm"] == pytest.approx(rows["pve_mm"].mean())
        assert metrics[f"{label}/vqhps/pve_mm"] > 0
    assert 0 <= metrics["vqhps_full/token_accuracy"] <= 1
    assert metrics["oracle/rotation_error_deg"] < 0.1, "the oracle is posed by the GT rotation"
    # every number with its interval and counts; each test image counted once, its own sequence (no views)
    for key in ("vqhps_full/vqhps/pve_mm", "oracle/standard/mpjpe_mm", "vqhps_full/token_accuracy"):
        assert metrics[key + "_lo"] <= metrics[key] <= metrics[key + "_hi"], key
    assert metrics["vqhps_full/n_frames"] == metrics["n_frames"] == SPLITS["test"]
    assert metrics["n_sequences"] == SPLITS["test"] and set(table["sequence"]) == set(table["id"])
    paired = metrics["vqhps_full-baseline_full/vqhps/pve_mm"]
    assert paired == pytest.approx(metrics["vqhps_full/vqhps/pve_mm"] - metrics["baseline_full/vqhps/pve_mm"])
    test_set = pd.read_csv(out / "test_set.csv")
    assert list(test_set.columns) == ["id", "source", "sequence", "frame", "person"]
    assert sorted(test_set["id"]) == sorted(set(table["id"]))
    constant = table[(table.method == "constant") & (table.protocol == "vqhps")]
    assert constant["pa_mpjpe_mm"].std() > 0, "one mesh for every image: its errors vary with the GT only"
    plots = sorted(p.name for p in (out / "plots").iterdir())
    assert plots == [
        "curves_image_models.png",
        "curves_mesh_vqvae.png",
        "errors_standard.png",
        "errors_vqhps.png",
        "overlays.png",
        "token_accuracy_vs_pve.png",
    ]
    assert np.isfinite(metrics["overlay_gt_keypoint_px"])


def test_make_tables_on_a_hand_made_metrics_file(project, tmp_path):
    results = tmp_path / "results"
    metrics = {"n_test": 5}
    labels = ["vqhps_full", "vqhps_scarce", "baseline_full", "baseline_scarce", "oracle", "constant"]
    for i, label in enumerate(labels):
        for protocol in PROTOCOLS:
            metrics |= {
                f"{label}/{protocol}/pve_mm": 100.0 + i,
                f"{label}/{protocol}/mpjpe_mm": 80.0 + i,
                f"{label}/{protocol}/pa_mpjpe_mm": 40.0 + i,
            }
    (results / "demo/evaluate").mkdir(parents=True)
    (results / "demo/evaluate/metrics.json").write_text(json.dumps(metrics))
    assert make_tables.main(_argv(project, results=results)) == 0
    out = results / "demo/make_tables"
    tables = out / "tables"
    assert sorted(p.name for p in tables.iterdir()) == sorted(
        f"{stem}_table.{ext}" for stem in ("main", "scarce") for ext in ("md", "csv", "tex")
    )
    for stem, regime in (("main", "full"), ("scarce", "scarce")):
        rows = read_table_csv(tables / f"{stem}_table.csv")
        measured = [r for r in rows if r["origin"] == "measured"]
        assert len(measured) == 4 * len(PROTOCOLS) and all(r["data"] == "synthetic demo" for r in measured)
        assert any(r["origin"] == "paper" for r in rows), "paper rows sit beside the measured ones"
        by = {(r["method"], r["protocol"]): r for r in measured}
        assert by[(METHOD_NAMES["vqhps"], "standard")]["pve_mm"] == metrics[f"vqhps_{regime}/standard/pve_mm"]
        assert (
            by[(METHOD_NAMES["baseline"], "vqhps")]["pa_mpjpe_mm"]
            == metrics[f"baseline_{regime}/vqhps/pa_mpjpe_mm"]
        )
        assert by[(METHOD_NAMES["oracle"], "vqhps")]["mpjpe_mm"] == metrics["oracle/vqhps/mpjpe_mm"]
        assert by[(METHOD_NAMES["constant"], "vqhps")]["pve_mm"] == metrics["constant/vqhps/pve_mm"]
        md = (tables / f"{stem}_table.md").read_text()
        assert all(name in md for name in METHOD_NAMES.values()) and "synthetic demo" in md
    head = json.loads((out / "metrics.json").read_text())
    assert head["scarce/standard/vqhps_minus_baseline_pve_mm"] == pytest.approx(101.0 - 103.0)
    assert head["n_measured_rows"] == 2 * 4 * len(PROTOCOLS)
    with open(tables / "main_table.csv") as fh:
        assert next(csv.reader(fh))[0] == "origin"


def test_make_tables_without_evaluate_output_is_a_user_error(project, tmp_path):
    assert make_tables.main(_argv(project, results=tmp_path)) == 1


def test_scarce_study_scores_every_study_run_beside_the_constant(project, tmp_path):
    """scarce_study on two study regimes whose models are the module's trained ones (the stage's own work
    is testing each on the test split and summarising; train_vqhps trains study regimes as any other)."""
    from vqhps.eval.study import study_regime_name
    from vqhps.stages import scarce_study

    results = tmp_path / "results"
    shutil.copytree(project / "results", results)
    raw = yaml.safe_load((project / "params.yaml").read_text())
    raw["demo"]["scarce_study"] = {
        "sources": ["anny"],
        "fractions": [0.5, 1.0],
        "seeds": [0],
        "bootstrap": 50,
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    for fraction, trained in ((0.5, "scarce"), (1.0, "full")):
        for stage in ("train_vqhps", "train_baseline"):
            run = results / f"demo/{stage}/{study_regime_name(fraction, 0)}"
            run.mkdir(parents=True)
            shutil.copyfile(results / f"demo/{stage}/{trained}/model.pt", run / "model.pt")
    assert scarce_study.main(_argv(tmp_path, results=results)) == 0
    out = results / "demo/scarce_study"
    runs = pd.read_csv(out / "runs.csv")
    assert sorted(zip(runs["method"], runs["fraction"], strict=True)) == [
        ("baseline", 0.5), ("baseline", 1.0), ("vqhps", 0.5), ("vqhps", 1.0)
    ]  # fmt: skip
    assert dict(zip(runs["fraction"], runs["n_train"], strict=False)) == {0.5: 3, 1.0: SPLITS["train"]}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_test"] == SPLITS["test"] and metrics["gt_edge_distortion"] >= 0
    for _, row in runs.iterrows():  # one seed: the study's mean is that run's mean over the test images
        key = f"{row['method']}/f{round(row['fraction'] * 1000):04d}"
        for metric in ("pve_mm", "pa_mpjpe_mm", "edge_distortion"):
            assert metrics[f"{key}/{metric}"] == pytest.approx(row[metric]), (key, metric)
            assert metrics[f"{key}/{metric}_lo"] <= row[metric] <= metrics[f"{key}/{metric}_hi"]
    assert metrics["constant/f1000/pve_mm"] > 0, "the constant predictor sits beside the study runs"
    table = pd.read_csv(out / "tables/study_table.csv")
    assert set(table["method"]) == {"vqhps", "baseline", "constant"} and (table["protocol"] == "vqhps").all()
    assert (out / "plots/study.png").stat().st_size > 1000
