"""Regression baseline: shapes, template start, posing, loss terms, and that it can fit a tiny batch."""

from __future__ import annotations

import pytest
import torch

from vqhps import losses
from vqhps.models.regression import MeshRegressor, RegressionConfig, RegressionLossWeights, regression_losses


def _model(**overrides) -> MeshRegressor:
    base = dict(
        backbone="small_cnn",
        backbone_width=8,
        shared_backbone=True,
        image_size=32,
        hidden=32,
        rank=8,
        rotcam_hidden=32,
    )
    base.update(overrides)
    torch.manual_seed(0)
    template = torch.randn(10, 3) * 0.2
    return MeshRegressor(RegressionConfig(**base), template=template, rest_joints=torch.randn(4, 3))


def test_output_shapes_and_posing() -> None:
    model = _model(shared_backbone=False).eval()
    out = model(torch.randn(2, 3, 32, 32))
    assert out.canonical.shape == (2, 10, 3) and out.verts.shape == (2, 10, 3) and out.cam.shape == (2, 3)
    torch.testing.assert_close(out.verts, torch.einsum("bij,bvj->bvi", out.rotmat, out.canonical))
    # The small basis init starts close to the template.
    assert (out.canonical - model.template).abs().max() < 0.05


def test_loss_terms_and_weights() -> None:
    model = _model().eval()
    out = model(torch.randn(2, 3, 32, 32))
    regressor = torch.softmax(torch.randn(4, 10), dim=1)
    target = torch.randn(2, 10, 3)
    rot = torch.eye(3).expand(2, 3, 3)
    kp = torch.rand(2, 4, 3)
    terms = regression_losses(out, target, rot, kp, regressor)
    assert terms["vertex"].item() == pytest.approx(losses.vertex_l1(out.canonical, target).item())
    assert terms["total"].item() == pytest.approx(
        sum(terms[k].item() for k in ("vertex", "joint", "rotation", "reprojection")), rel=1e-6
    )
    only_vertex = regression_losses(
        out, target, rot, kp, regressor, RegressionLossWeights(1.0, 0.0, 0.0, 0.0)
    )
    assert only_vertex["total"].item() == pytest.approx(terms["vertex"].item())


def test_fits_a_tiny_batch(one_torch_thread) -> None:
    model = _model(dropout=0.0, rotcam_dropout=0.0)
    images = torch.randn(4, 3, 32, 32)
    target = model.template + 0.1 * torch.randn(4, 10, 3, generator=torch.Generator().manual_seed(2))
    rot = torch.eye(3).expand(4, 3, 3)
    kp = torch.zeros(4, 4, 3)  # no 2D supervision
    regressor = torch.full((4, 10), 0.1)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(40):
        terms = regression_losses(model(images), target, rot, kp, regressor)
        first = terms["vertex"].item() if first is None else first
        opt.zero_grad()
        terms["total"].backward()
        opt.step()
    assert terms["vertex"].item() < 0.3 * first


def test_rejects_bad_template() -> None:
    with pytest.raises(ValueError, match="template must be"):
        MeshRegressor(
            RegressionConfig(backbone="small_cnn", image_size=32), torch.zeros(10), torch.zeros(4, 3)
        )
