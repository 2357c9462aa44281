"""Tests for vqhps.metrics: hand-computed answers, Procrustes invariances, numpy/torch parity."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vqhps.geometry import quaternion_to_matrix, random_rotations
from vqhps.metrics import (
    codebook_perplexity,
    codebook_usage,
    mpjpe_mm,
    pa_mpjpe_mm,
    pa_pve_mm,
    pve_mm,
    similarity_procrustes,
    similarity_transform,
)


def _random_similarity(points: np.ndarray, seed: int) -> np.ndarray:
    """Apply a random rotation, scale in [0.5, 2] and translation to (B, N, 3) points."""
    rng = np.random.default_rng(seed)
    rot = random_rotations(points.shape[0], torch.Generator().manual_seed(seed), dtype=torch.float64).numpy()
    scale = rng.uniform(0.5, 2.0, size=(points.shape[0], 1, 1))
    trans = rng.normal(size=(points.shape[0], 1, 3))
    return scale * points @ rot.transpose(0, 2, 1) + trans


def test_mpjpe_hand_computed() -> None:
    # Sample 0: joint errors (3,4,0) mm -> 5 mm and (0,0,1) mm -> 1 mm; mean 3 mm.
    # Sample 1: one joint off by 2 mm along y, the other exact -> 1 mm. Batch mean = 2 mm.
    gt = np.zeros((2, 2, 3))
    pred = np.array([[[0.003, 0.004, 0.0], [0.0, 0.0, 0.001]], [[0.0, 0.002, 0.0], [0.0, 0.0, 0.0]]])
    per_sample = mpjpe_mm(pred, gt, reduce=False)
    np.testing.assert_allclose(per_sample, [3.0, 1.0], atol=1e-9, err_msg="per-sample MPJPE")
    assert mpjpe_mm(pred, gt) == pytest.approx(2.0), "batch mean MPJPE"


def test_pve_hand_computed_is_euclidean_not_squared() -> None:
    # Four vertices displaced by 0, 1, 2, 3 mm along different axes -> mean 1.5 mm.
    # A squared-distance implementation would give (0+1+4+9)/4 = 3.5 (in mm^2) instead.
    gt = np.zeros((1, 4, 3))
    pred = np.array([[[0, 0, 0], [0.001, 0, 0], [0, -0.002, 0], [0, 0, 0.003]]], dtype=float)
    assert pve_mm(pred, gt) == pytest.approx(1.5), "PVE is the mean Euclidean vertex distance in mm"


# Hand example for Procrustes (units of 1 cm): gt = (+-1, 0, 0), (0, +-1, 0); pred stretches y by 2.
# Both centred; K = pred^T gt = diag(2, 4, 0) -> R = I, scale = trace(K)/|pred|^2 = 6/10 = 0.6.
# Aligned pred = (+-0.6, 0, 0), (0, +-1.2, 0): errors 0.4, 0.4, 0.2, 0.2 cm -> mean 0.3 cm = 3 mm.
_GT_CROSS = 0.01 * np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]], dtype=float)
_PRED_CROSS = 0.01 * np.array([[1, 0, 0], [-1, 0, 0], [0, 2, 0], [0, -2, 0]], dtype=float)


def test_pa_mpjpe_hand_computed() -> None:
    aligned = similarity_procrustes(_PRED_CROSS, _GT_CROSS)
    np.testing.assert_allclose(
        aligned,
        0.01 * np.array([[0.6, 0, 0], [-0.6, 0, 0], [0, 1.2, 0], [0, -1.2, 0]]),
        atol=1e-12,
        err_msg="aligned points of the hand example",
    )
    assert pa_mpjpe_mm(_PRED_CROSS, _GT_CROSS) == pytest.approx(3.0), "hand-computed PA-MPJPE"
    assert pa_pve_mm(_PRED_CROSS, _GT_CROSS) == pytest.approx(3.0), "PA-PVE is the same maths on vertices"


def test_pa_mpjpe_hand_example_invariant_to_pred_pose() -> None:
    # Moving/scaling/rotating the prediction must not change the Procrustes answer (still 3 mm).
    moved = _random_similarity(_PRED_CROSS[None], seed=3)
    assert pa_mpjpe_mm(moved, _GT_CROSS[None]) == pytest.approx(3.0), "PA-MPJPE after moving pred"
    assert mpjpe_mm(moved, _GT_CROSS[None]) > 3.0, "raw MPJPE does see the similarity transform"


def test_pa_mpjpe_of_similarity_copy_is_zero_numpy_and_torch() -> None:
    rng = np.random.default_rng(0)
    gt = rng.normal(scale=0.3, size=(5, 17, 3))
    pred = _random_similarity(gt, seed=1)
    assert mpjpe_mm(pred, gt) > 10.0, "the copy really is moved"
    assert pa_mpjpe_mm(pred, gt) < 1e-6, "numpy: PA-MPJPE of a similarity copy is 0"
    assert pa_mpjpe_mm(torch.from_numpy(pred), torch.from_numpy(gt)) < 1e-6, "torch: same"
    np.testing.assert_allclose(similarity_procrustes(pred, gt), gt, atol=1e-10, err_msg="aligned == gt")


def test_procrustes_rejects_reflections() -> None:
    # An asymmetric point set and its mirror image: a reflection would align them perfectly, a proper
    # rotation cannot, so PA-MPJPE must stay > 0 and the fitted rotation must have det +1.
    rng = np.random.default_rng(1)
    gt = rng.normal(scale=0.2, size=(3, 12, 3))
    mirrored = gt * np.array([-1.0, 1.0, 1.0])
    assert pa_mpjpe_mm(mirrored, gt) > 1.0, "mirror image is not a similarity copy"
    _, rot, _ = similarity_transform(torch.from_numpy(mirrored), torch.from_numpy(gt))
    np.testing.assert_allclose(torch.linalg.det(rot).numpy(), 1.0, atol=1e-9, err_msg="det R = +1")


def test_numpy_and_torch_inputs_agree() -> None:
    rng = np.random.default_rng(2)
    gt = rng.normal(size=(4, 30, 3)).astype(np.float32)
    pred = gt + rng.normal(scale=0.05, size=gt.shape).astype(np.float32)
    for fn in (mpjpe_mm, pve_mm, pa_mpjpe_mm, pa_pve_mm):
        a = fn(pred, gt, reduce=False)
        b = fn(torch.from_numpy(pred), torch.from_numpy(gt), reduce=False)
        np.testing.assert_allclose(a, b, rtol=1e-10, err_msg=f"{fn.__name__} numpy vs torch")
        assert fn(pred, gt) == pytest.approx(float(a.mean())), f"{fn.__name__}: reduce=True is the mean"


def test_procrustes_keeps_container_type_and_shape() -> None:
    gt = np.random.default_rng(3).normal(size=(6, 3))
    out_np = similarity_procrustes(gt * 2.0, gt)
    out_t = similarity_procrustes(torch.tensor(gt * 2.0, dtype=torch.float32), torch.tensor(gt))
    assert isinstance(out_np, np.ndarray) and out_np.shape == (6, 3), "numpy in -> numpy out, rank kept"
    assert isinstance(out_t, torch.Tensor) and out_t.dtype == torch.float32, "torch float32 in -> out"
    np.testing.assert_allclose(out_t.numpy(), gt, atol=1e-5, err_msg="unbatched alignment")


def test_translation_sensitivity_of_raw_metrics() -> None:
    gt = np.random.default_rng(4).normal(size=(2, 10, 3))
    shifted = gt + np.array([0.0, 0.0, 0.01])
    np.testing.assert_allclose(mpjpe_mm(shifted, gt, reduce=False), 10.0, err_msg="raw MPJPE sees 1 cm")
    assert pa_mpjpe_mm(shifted, gt) < 1e-6, "PA removes translation"


@pytest.mark.parametrize(
    ("pred_shape", "gt_shape"), [((2, 5, 3), (2, 6, 3)), ((2, 5, 2), (2, 5, 2)), ((5,), (5,))]
)
def test_bad_shapes_raise(pred_shape: tuple[int, ...], gt_shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="shape"):
        pa_mpjpe_mm(np.zeros(pred_shape), np.zeros(gt_shape))


@settings(max_examples=40, deadline=None)
@given(
    quat=st.lists(st.floats(-1.0, 1.0), min_size=4, max_size=4).filter(lambda q: sum(x * x for x in q) > 0.1),
    scale=st.floats(0.05, 20.0),
    trans=st.lists(st.floats(-10.0, 10.0), min_size=3, max_size=3),
    seed=st.integers(0, 2**16),
    n_points=st.integers(3, 40),
)
def test_property_procrustes_recovers_any_similarity(
    quat: list[float], scale: float, trans: list[float], seed: int, n_points: int
) -> None:
    gt = np.random.default_rng(seed).normal(scale=0.5, size=(1, n_points, 3))
    q = torch.tensor(quat, dtype=torch.float64)
    rot = quaternion_to_matrix(q / q.norm()).numpy()
    pred = scale * gt @ rot.T + np.asarray(trans)
    assert pa_mpjpe_mm(pred, gt) < 1e-5, "similarity copy aligns back to 0 mm"
    assert pa_mpjpe_mm(gt, pred) < 1e-5 * max(1.0, scale), "and the other way round"


def test_codebook_perplexity_hand_computed() -> None:
    # Uniform over 2 of 4 codes -> exp(ln 2) = 2; all 4 -> 4; one code -> 1.
    assert codebook_perplexity(np.array([0, 0, 1, 1]), 4) == pytest.approx(2.0), "two equally used codes"
    assert codebook_perplexity(torch.tensor([[0, 1], [2, 3]]), 4) == pytest.approx(4.0), "uniform use"
    assert codebook_perplexity(np.array([3, 3, 3]), 4) == pytest.approx(1.0), "collapse to one code"
    # p = (3/4, 1/4): exp(H) = (3/4)^(-3/4) * (1/4)^(-1/4) = (4/3)^0.75 * 4^0.25 ~= 1.75477.
    expected = (4 / 3) ** 0.75 * 4**0.25
    assert codebook_perplexity(np.array([0, 0, 0, 1]), 8) == pytest.approx(expected), "skewed use"
    assert math.isclose(expected, 1.75477, rel_tol=1e-4), "hand value of the comment"


def test_codebook_usage_hand_computed() -> None:
    assert codebook_usage(np.array([0, 0, 1, 1]), 4) == pytest.approx(0.5), "2 of 4 codes active"
    assert codebook_usage(torch.tensor([[5, 5], [5, 5]]), 512) == pytest.approx(1 / 512), "1 of 512"


@pytest.mark.parametrize(
    "bad", [np.array([0, 4]), np.array([-1, 0]), np.array([0.0, 1.0]), np.array([], int)]
)
def test_codebook_stats_reject_bad_indices(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="indices"):
        codebook_usage(bad, 4)
