"""Tests of the fitted H36M joint regressor and the left/right vertex permutation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vqhps.body.anny_body import AnnyBody
from vqhps.body.joint_regressor import (
    H36M_FLIP_PERM,
    fit_h36m_regressor,
    fit_simplex_weights,
    h36m_regressor,
    regressor_cache_path,
)
from vqhps.data.augment import vertex_mirror_permutation
from vqhps.geometry import random_rotations, regress_joints


@pytest.fixture(scope="module")
def body() -> AnnyBody:
    return AnnyBody("notoes_collapse10pc")


@pytest.fixture(scope="module")
def fitted(body):
    return fit_h36m_regressor(body, n_fit=80, n_holdout=40, seed=0)


def test_regressor_is_a_convex_combination_per_joint(body, fitted):
    reg, _ = fitted
    assert reg.shape == (17, body.n_vertices) and reg.dtype == np.float32
    np.testing.assert_allclose(reg.sum(axis=1), 1.0, atol=1e-5)
    assert reg.min() >= 0.0
    assert np.all((reg > 1e-4).sum(axis=1) <= 200)  # sparse: a local patch of vertices per joint


def test_regressor_fits_held_out_bone_heads(fitted):
    _, metrics = fitted
    assert metrics["holdout_mpjpe_mm"] < 20.0, metrics
    assert metrics["holdout_mpjpe_mm"] < 1.5 * metrics["fit_mpjpe_mm"] + 2.0, metrics  # no overfitting


def test_joints_are_translation_and_rotation_equivariant(body, fitted):
    reg, _ = fitted
    verts = body.vertices(body.sample_parameters(4, torch.Generator().manual_seed(5)))
    joints = regress_joints(verts, reg)
    shift = torch.tensor([0.3, -1.2, 2.5])
    torch.testing.assert_close(regress_joints(verts + shift, reg), joints + shift, atol=1e-5, rtol=0)
    rot = random_rotations(1, torch.Generator().manual_seed(0))[0]
    torch.testing.assert_close(regress_joints(verts @ rot.T, reg), joints @ rot.T, atol=1e-5, rtol=0)


def test_joint_layout_matches_h36m_in_the_rest_pose(body, fitted):
    reg, _ = fitted
    j = regress_joints(torch.from_numpy(body.template), reg).numpy()
    assert j[1, 0] > 0 > j[4, 0] and j[11, 0] > 0 > j[14, 0]  # left joints (SPIN rows 1-3, 11-13) on +X
    assert j[10, 1] == j[:, 1].max()  # head top is highest
    assert j[3, 1] < j[2, 1] < j[1, 1] < j[7, 1] < j[8, 1] < j[9, 1]  # ankle < knee < hip < spine...
    np.testing.assert_allclose(j[0], 0.5 * (j[1] + j[4]), atol=1e-5)  # pelvis between the hips


def test_flipping_the_mesh_flips_the_joints(body, fitted):
    reg, _ = fitted
    perm = vertex_mirror_permutation(body.template, tolerance=5e-3)
    verts = body.vertices(body.sample_parameters(4, torch.Generator().manual_seed(6)))
    mirror = torch.tensor([-1.0, 1.0, 1.0])
    flipped = regress_joints(verts[:, perm] * mirror, reg)
    expected = regress_joints(verts, reg)[:, list(H36M_FLIP_PERM)] * mirror
    assert (flipped - expected).norm(dim=-1).max() < 0.02  # metres; the mesh is only nearly symmetric


def test_mirror_permutation_is_an_involution(body):
    perm = vertex_mirror_permutation(body.template, tolerance=5e-3)
    assert perm.dtype == np.int64 and perm.shape == (body.n_vertices,)
    assert np.mean(perm[perm] == np.arange(len(perm))) > 0.99
    err = np.abs(body.template[perm] * [-1, 1, 1] - body.template).max()
    assert err < 5e-3  # metres
    x = body.template[:, 0]
    swapped = (np.sign(x[perm]) != np.sign(x)) | (np.abs(x) < 5e-3)  # midline vertices may map to themselves
    assert np.all(swapped)


def test_mirror_permutation_on_an_exactly_symmetric_set():
    rng = np.random.default_rng(0)
    half = rng.normal(size=(50, 3)) + [2.0, 0.0, 0.0]
    pts = np.concatenate([half, half * [-1, 1, 1]])
    perm = vertex_mirror_permutation(pts)
    np.testing.assert_array_equal(perm, np.concatenate([np.arange(50, 100), np.arange(50)]))


def test_simplex_fit_recovers_a_known_convex_combination():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(300, 8))
    w_true = np.array([0.5, 0.3, 0.2, 0, 0, 0, 0, 0])
    w = fit_simplex_weights(A, A @ w_true, ridge=0.0, iters=5000)
    assert w.min() >= 0 and abs(w.sum() - 1) < 1e-9
    np.testing.assert_allclose(w, w_true, atol=1e-4)


def test_regressor_is_cached_by_topology(body, tmp_path):
    reg = h36m_regressor(body, cache_dir=tmp_path)
    path = regressor_cache_path(tmp_path, body.topology_id)
    assert path.exists()
    np.testing.assert_array_equal(np.load(path), reg)
    np.save(path, np.full_like(reg, 1.0 / body.n_vertices))  # a different valid file must be what is read
    assert np.all(h36m_regressor(body, cache_dir=tmp_path) == np.float32(1.0 / body.n_vertices))
