"""Checkpoint selection: with keep_best the run ends with the weights of its lowest validation metric."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from vqhps.training.best_weights import BestWeights
from vqhps.training.image_setup import train_settings


def _model(value: float) -> nn.Linear:
    m = nn.Linear(2, 1)
    with torch.no_grad():
        m.weight.fill_(value)
    return m


def test_the_lowest_validation_wins_and_survives_a_resume(tmp_path):
    path = tmp_path / "best.pt"
    best = BestWeights(path, "pve_mm")
    for step, (weight, pve) in enumerate([(1.0, 50.0), (2.0, 30.0), (3.0, 40.0)], start=1):
        best.update(_model(weight), {"val_pve_mm": pve, "val_pa_mpjpe_mm": 1.0}, step * 100)
    resumed = BestWeights(path, "pve_mm")  # a restarted run reads the best so far back
    resumed.update(_model(4.0), {"val_pve_mm": 35.0}, 400)  # worse than 30: not kept
    final = _model(9.0)
    assert resumed.restore(final) == {"selected_step": 200.0, "selected_val_pve_mm": 30.0}
    assert torch.all(final.weight == 2.0)


def test_last_keeps_nothing_and_a_missing_metric_is_named(tmp_path):
    last = BestWeights(tmp_path / "best.pt", None)
    last.update(_model(1.0), {"val_pve_mm": 1.0}, 1)
    model = _model(5.0)
    assert last.restore(model) == {} and torch.all(model.weight == 5.0)
    assert not (tmp_path / "best.pt").exists()
    with pytest.raises(KeyError, match="val_pve_mm"):
        BestWeights(tmp_path / "b.pt", "pve_mm").update(_model(1.0), {"val_loss": 1.0}, 1)


@pytest.mark.parametrize(("checkpoint", "keep"), [("last", None), ("best", "pve_mm")])
def test_the_checkpoint_param_sets_the_trainer(checkpoint, keep):
    p = SimpleNamespace(
        batch_size=4, lr=1e-3, weight_decay=0.0, lr_step=10, lr_gamma=0.1, val_every=5, ckpt_every=5,
        max_val_images=-1, precision="fp32", checkpoint=checkpoint,
    )  # fmt: skip
    assert train_settings(p, 20, 0, 0).keep_best == keep
