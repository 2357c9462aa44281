"""train_vqhps and train_baseline stages on a tiny image set: outputs, metrics, loaders, regime checks."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from helpers import image_fixtures as fx
from vqhps.io.checkpoint import save_checkpoint
from vqhps.models.pretrained import load_baseline, load_vqhps, mesh_vqvae_extra
from vqhps.stages import train_baseline, train_vqhps

COMMON = {  # params image_training: what both image stages share
    "backbone": "small_cnn", "backbone_width": 4, "pretrained": None, "shared_backbone": True,
    "crop_size": 32, "bbox_rescale": 1.2, "rotcam_hidden": 16, "batch_size": 4, "steps": 4, "lr": 1e-3,
    "weight_decay": 1e-3, "lr_step": 2, "lr_gamma": 0.5, "val_every": 2, "ckpt_every": 2, "max_val_images": 2,
    "augment": {"flip_prob": 0.5, "rot_prob": 0.4, "rot_std_deg": 30.0, "rot_max_deg": 60.0,
                "scale_std": 0.25, "photometric_prob": 0.3},
}  # fmt: skip
VQHPS = {"model": {"d_model": 16, "heads": 2, "ffn": 32, "dropout": 0.1},
         "loss_weights": {"tokens": 1.0, "rotation": 1.0, "reprojection": 1.0}}  # fmt: skip
BASELINE = {"model": {"hidden": 16, "rank": 4, "dropout": 0.1},
            "loss_weights": {"vertex": 1.0, "joint": 1.0, "rotation": 1.0, "reprojection": 1.0}}  # fmt: skip
REGIMES = {"full": {"sources": ["anny"], "fraction": 1.0},
           "scarce": {"sources": ["anny"], "fraction": 0.5, "steps": 3}}  # fmt: skip


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def project(tmp_path):
    results = tmp_path / "results"
    fx.write_image_set(results / "demo/render_images", {"anny": 6, "coco": 2}, n_val=2)
    vq = fx.tiny_vqvae()
    save_checkpoint(
        results / "demo/train_mesh_vqvae/model.pt",
        vq.state_dict(),
        vq.config.to_dict(),
        {},
        1,
        extra=mesh_vqvae_extra(vq),
    )
    params = {"demo": {
        "seed": 0, "data_root": "data", "check_data": {"datasets": ["anny"]}, "regimes": REGIMES,
        "image_training": COMMON, "train_vqhps": VQHPS, "train_baseline": BASELINE,
    }}  # fmt: skip
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return tmp_path


def _argv(project: Path, regime: str) -> list[str]:
    return [
        "--params",
        str(project / "params.yaml"),
        "--experiment",
        "demo",
        "--regime",
        regime,
        "--results",
        str(project / "results"),
        "--no-track",
        "--workers",
        "1",
        "--device",
        "cpu",
    ]


def test_vqhps_stage_writes_loadable_model_curves_and_metrics(project):
    assert train_vqhps.main(_argv(project, "scarce")) == 0
    out = project / "results/demo/train_vqhps/scarce"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_train_images"] == 3, "scarce = half of the 6 anny train images (coco excluded)"
    assert metrics["steps"] == 3, "the regime's step override"
    assert 0 <= metrics["val_token_accuracy"] <= 1 and metrics["val_pve_mm"] > 0
    assert metrics["train_images_per_second"] > 0
    rows = list(csv.DictReader((out / "curves.csv").open()))
    assert [int(r["step"]) for r in rows] == [2, 3] and "val_pve_mm" in rows[0]
    trained = load_vqhps(out / "model.pt")
    assert trained.regime == "scarce" and trained.step == 3
    assert trained.mesh_vqvae.n_tokens == trained.model.config.num_tokens
    pred = trained.predict(torch.randn(2, 3, 32, 32))
    assert pred.verts.shape == (2, fx.N_VERTS, 3) and trained.joint_regressor.shape == (17, fx.N_VERTS)
    with pytest.raises(ValueError, match="expected 'baseline'"):
        load_baseline(out / "model.pt")


def test_baseline_stage_full_regime_and_unknown_regime(project):
    assert train_baseline.main(_argv(project, "full")) == 0
    out = project / "results/demo/train_baseline/full"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_train_images"] == 6 and metrics["steps"] == 4
    trained = load_baseline(out / "model.pt")
    assert trained.regime == "full"
    assert trained.params["image_training"]["crop_size"] == 32, "the shared section is stored with the run"
    assert trained.params["train_baseline"]["model"]["rank"] == 4 and "train_vqhps" not in trained.params
    verts = trained.predict(torch.randn(2, 3, 32, 32)).verts
    assert verts.shape == (2, fx.N_VERTS, 3) and torch.isfinite(verts).all()
    assert train_baseline.main(_argv(project, "tiny")) == 1, "an undefined regime is a user error"


def test_a_finished_run_leaves_no_work_and_another_runs_checkpoint_is_not_resumed(project, capfd):
    out = project / "results/demo/train_vqhps/full"
    assert train_vqhps.main(_argv(project, "full")) == 0
    assert not (out / "work").exists(), "a finished run leaves nothing a later run could resume"
    # A finished checkpoint of another run (e.g. trained before the tokenizer was retrained).
    (out / "work").mkdir()
    shutil.copyfile(out / "model.pt", out / "work/last.pt")
    (out / "work/run_key").write_text("key of another run\n")
    (out / "metrics.json").unlink()
    assert train_vqhps.main(_argv(project, "full")) == 0
    assert "discarded, training from step 0" in capfd.readouterr().err
    rows = list(csv.DictReader((out / "curves.csv").open()))
    assert [int(r["step"]) for r in rows] == [2, 4], "trained again from step 0, the whole curve"
    assert json.loads((out / "metrics.json").read_text())["train_images_per_second"] > 0
