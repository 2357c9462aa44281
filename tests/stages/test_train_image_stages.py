"""train_vqhps and train_baseline stages on a tiny image set: outputs, metrics, loaders, regime checks."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
import torch

from helpers import image_fixtures as fx
from helpers.image_stages import stage_argv as _argv
from helpers.image_stages import write_project
from vqhps.models.pretrained import load_baseline, load_vqhps
from vqhps.stages import train_baseline, train_vqhps

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def project(tmp_path):
    return write_project(tmp_path)


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
