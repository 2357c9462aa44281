"""The constant predictor: mean train mesh under its best fixed rotation; a row of the tables."""

from __future__ import annotations

import numpy as np
import torch

from vqhps.eval.constant_predictor import (
    best_constant_rotation,
    constant_predictor,
    fit_constant,
    mean_canonical_mesh,
    mean_vertex_error_m,
)
from vqhps.eval.measured_rows import METHOD_NAMES, measured_rows


def _rot(axis: np.ndarray, angle: float) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def _meshes(n: int, rng: np.random.Generator) -> np.ndarray:
    body = rng.normal(size=(40, 3)) * np.array([0.2, 0.8, 0.1])  # elongated: a definite orientation
    return body + 0.02 * rng.normal(size=(n, 40, 3)) + rng.normal(size=(n, 1, 3))  # noise + offsets


def test_mean_mesh_is_the_mean_of_the_centred_meshes():
    rng = np.random.default_rng(0)
    meshes = _meshes(5, rng)
    mean = mean_canonical_mesh(meshes)
    assert np.allclose(mean.mean(0), 0, atol=1e-12)
    assert np.allclose(mean, (meshes - meshes.mean(1, keepdims=True)).mean(0))


def test_best_rotation_recovers_a_shared_rotation():
    rng = np.random.default_rng(1)
    meshes = _meshes(30, rng)
    truth = _rot(np.array([0.3, 1.0, -0.2]), 2.1)
    rots = np.repeat(truth[None], len(meshes), 0)
    mean, rot = fit_constant(meshes, rots)
    assert np.allclose(rot @ rot.T, np.eye(3), atol=1e-9) and np.isclose(np.linalg.det(rot), 1.0)
    assert np.degrees(np.arccos(np.clip((np.trace(rot.T @ truth) - 1) / 2, -1, 1))) < 1.0


def test_reweighting_lowers_the_mean_distance_below_least_squares():
    rng = np.random.default_rng(2)
    meshes = _meshes(60, rng)
    # most samples near one rotation, a few outliers far away: mean distance and least squares disagree
    rots = np.stack(
        [_rot(np.array([0, 1.0, 0]), 0.1 * rng.normal()) for _ in range(50)]
        + [_rot(np.array([1.0, 0, 0]), 2.5) for _ in range(10)]
    )
    mean = mean_canonical_mesh(meshes)
    least_squares = best_constant_rotation(mean, meshes, rots, iterations=0)
    reweighted = best_constant_rotation(mean, meshes, rots, iterations=30)
    ls_err = mean_vertex_error_m(mean, least_squares, meshes, rots)
    rw_err = mean_vertex_error_m(mean, reweighted, meshes, rots)
    assert rw_err < ls_err - 1e-4
    for other in (np.eye(3), _rot(np.array([0, 1.0, 0]), 0.5)):  # no nearby rotation does better
        assert rw_err <= mean_vertex_error_m(mean, other, meshes, rots) + 1e-9


def test_predictor_returns_the_same_posed_mesh_for_every_sample():
    rng = np.random.default_rng(3)
    mean = mean_canonical_mesh(_meshes(4, rng))
    rot = _rot(np.array([0, 1.0, 0]), 0.7)
    predict = constant_predictor(mean, rot)
    batch = {"global_rot": torch.eye(3).expand(3, 3, 3), "image": torch.rand(3, 3, 8, 8)}
    pred = predict(batch)
    assert pred.verts.shape == (3, 40, 3) and pred.rotmat.shape == (3, 3, 3)
    assert torch.allclose(pred.verts[0], pred.verts[2])
    assert np.allclose(pred.verts[1].numpy(), mean @ rot.T, atol=1e-6)
    batch["image"] = torch.zeros(3, 3, 8, 8)  # it never reads the image
    assert torch.equal(predict(batch).verts, pred.verts)


def _metrics(with_constant: bool) -> dict[str, float]:
    labels = ["vqhps_full", "baseline_full", "oracle"] + (["constant"] if with_constant else [])
    return {
        f"{label}/vqhps/{m}": 10.0 * (i + 1) + j
        for i, label in enumerate(labels)
        for j, m in enumerate(("pve_mm", "mpjpe_mm", "pa_mpjpe_mm"))
    }


def test_tables_get_a_constant_row_when_evaluate_measured_it():
    kw = dict(data="synthetic demo", dataset="test", backbone="cnn", training_data={}, regimes=["full"],
              protocols=["vqhps"])  # fmt: skip
    rows = measured_rows(_metrics(True), **kw)
    constant = [r for r in rows if r["method"] == METHOD_NAMES["constant"]]
    assert len(constant) == 1 and constant[0]["pve_mm"] == 40.0 and constant[0]["pa_mpjpe_mm"] == 42.0
    assert not [r for r in measured_rows(_metrics(False), **kw) if r["method"] == METHOD_NAMES["constant"]]
