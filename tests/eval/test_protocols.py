"""Tests for vqhps.eval.protocols and .scoring: the three protocols on toy meshes with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vqhps.eval.protocols import (
    H36M_PELVIS,
    H36M_TO_J14,
    H36M_TO_J17,
    METRIC_KEYS,
    PROTOCOLS,
    SMPL24_HIPS,
    get_protocol,
)
from vqhps.eval.scoring import evaluate_protocol, evaluate_protocols
from vqhps.geometry import axis_angle_to_matrix

V = 20  # toy mesh: 20 vertices; joint j of the regressor is exactly vertex j (one-hot rows)


def _one_hot_regressor() -> np.ndarray:
    reg = np.zeros((17, V))
    reg[np.arange(17), np.arange(17)] = 1.0
    return reg


def _smooth_regressor(seed: int = 0) -> np.ndarray:
    reg = np.random.default_rng(seed).random((17, V))
    return reg / reg.sum(axis=1, keepdims=True)


def _regressors(seed: int = 0) -> dict[str, np.ndarray]:
    """Both regressors a protocol may ask for: H36M (17, V) and SMPL-24 (24, V), convex rows."""
    reg = np.random.default_rng(seed + 100).random((24, V))
    return {"h36m": _smooth_regressor(seed), "smpl24": reg / reg.sum(axis=1, keepdims=True)}


def _toy_batch(seed: int = 0, batch: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    gt = rng.normal(scale=0.3, size=(batch, V, 3))
    pred = gt + rng.normal(scale=0.02, size=gt.shape)
    return pred, gt


def test_index_constants() -> None:
    assert sorted(H36M_TO_J17) == list(range(17)), "H36M_TO_J17 is a permutation of the 17 H36M joints"
    # SPIN constants.py: LSP-14 = ankles, knees, hips, wrists, elbows, shoulders, neck, head top.
    assert H36M_TO_J14 == (6, 5, 4, 1, 2, 3, 16, 15, 14, 11, 12, 13, 8, 10), "the SPIN/CLIFF LSP-14 list"
    assert H36M_PELVIS not in H36M_TO_J14, "LSP-14 has no pelvis; it is taken before sub-selection"
    assert PROTOCOLS["vqhps"].joints == H36M_TO_J17 and PROTOCOLS["standard"].joints == H36M_TO_J14


def test_hand_computed_pelvis_shift() -> None:
    # pred == gt except the pelvis vertex (joint 0) moved by d = 10 mm along x; V = 20.
    # standard: pred pelvis moves by d, so every other pred vertex/joint is off by d after pelvis alignment
    #   MPJPE (14 joints, no pelvis) = 10; PVE = 10 * 19/20 = 9.5 (the pelvis vertex itself matches);
    #   PA-MPJPE = 0 (the 14 joints are a pure translate of gt).
    # vqhps: centroid moves by d/20 = 0.5 mm; the pelvis vertex is off by 9.5 mm, the others by 0.5 mm
    #   PVE = (19 * 0.5 + 9.5) / 20 = 0.95; MPJPE over 17 joints (incl. pelvis) = (16 * 0.5 + 9.5) / 17.
    _, gt = _toy_batch(seed=1, batch=1)
    pred = gt.copy()
    pred[:, H36M_PELVIS, 0] += 0.010
    std = evaluate_protocol(pred, gt, _one_hot_regressor(), "standard")
    vq = evaluate_protocol(pred, gt, _one_hot_regressor(), "vqhps")
    assert std["mpjpe_mm"][0] == pytest.approx(10.0), "standard MPJPE"
    assert std["pve_mm"][0] == pytest.approx(9.5), "standard PVE"
    assert std["pa_mpjpe_mm"][0] == pytest.approx(0.0, abs=1e-6), "standard PA-MPJPE"
    assert vq["pve_mm"][0] == pytest.approx(0.95), "vqhps PVE"
    assert vq["mpjpe_mm"][0] == pytest.approx(17.5 / 17), "vqhps MPJPE"
    assert vq["pa_mpjpe_mm"][0] > 0.1, "vqhps PA-MPJPE sees the pelvis moving relative to the other joints"


def test_hand_computed_single_joint_standard() -> None:
    # Move only the right wrist (H36M 16, in both joint sets) by 14 mm: standard MPJPE = 14/14 = 1 mm,
    # PVE = 14/20 = 0.7 mm (pelvis unchanged, one vertex off).
    _, gt = _toy_batch(seed=2, batch=1)
    pred = gt.copy()
    pred[:, 16, 2] += 0.014
    std = evaluate_protocol(pred, gt, _one_hot_regressor(), "standard")
    assert std["mpjpe_mm"][0] == pytest.approx(1.0), "one of 14 joints off by 14 mm"
    assert std["pve_mm"][0] == pytest.approx(0.7), "one of 20 vertices off by 14 mm"


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_invariant_to_global_translation(protocol: str) -> None:
    pred, gt = _toy_batch(seed=3)
    reg = _regressors()
    base = evaluate_protocol(pred, gt, reg, protocol)
    moved = evaluate_protocol(pred + np.array([0.3, -1.2, 4.0]), gt, reg, protocol)
    for key in METRIC_KEYS:
        np.testing.assert_allclose(moved[key], base[key], atol=1e-8, err_msg=f"{protocol}/{key} translation")


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_not_invariant_to_rotation_except_pa(protocol: str) -> None:
    pred, gt = _toy_batch(seed=4)
    reg = _regressors()
    rot = axis_angle_to_matrix(torch.tensor([0.0, np.pi / 2, 0.0], dtype=torch.float64)).numpy()
    centre = pred.mean(axis=1, keepdims=True)
    rotated = (pred - centre) @ rot.T + centre
    base = evaluate_protocol(pred, gt, reg, protocol)
    rot_res = evaluate_protocol(rotated, gt, reg, protocol)
    for key in ("pve_mm", "mpjpe_mm"):
        assert np.all(rot_res[key] > base[key] + 50.0), f"{protocol}/{key} must see a 90 degree rotation"
    np.testing.assert_allclose(
        rot_res["pa_mpjpe_mm"],
        base["pa_mpjpe_mm"],
        atol=1e-8,
        err_msg=f"{protocol}: PA-MPJPE ignores the rotation",
    )


def test_protocols_differ_on_asymmetric_input() -> None:
    # Only the left arm (H36M 11-13) and the head (10) are wrong: centroid and pelvis alignment disagree,
    # and so do 17 vs 14 joints.
    _, gt = _toy_batch(seed=5, batch=2)
    pred = gt.copy()
    pred[:, [10, 11, 12, 13]] += np.array([0.05, 0.02, 0.0])
    both = evaluate_protocols(pred, gt, _smooth_regressor())
    for key in METRIC_KEYS:
        assert not np.allclose(both[f"vqhps/{key}"], both[f"standard/{key}"], rtol=1e-3), f"{key} differs"


def test_numpy_and_torch_agree() -> None:
    pred, gt = _toy_batch(seed=6)
    reg = _regressors()
    for protocol in PROTOCOLS:
        a = evaluate_protocol(pred, gt, reg, protocol)
        b = evaluate_protocol(
            torch.from_numpy(pred).float(),
            torch.from_numpy(gt).float(),
            {k: torch.from_numpy(r).float() for k, r in reg.items()},
            protocol,
        )
        for key in METRIC_KEYS:
            assert a[key].shape == (3,), f"{key}: one value per sample"
            np.testing.assert_allclose(a[key], b[key], rtol=1e-4, err_msg=f"{protocol}/{key} numpy vs torch")


def test_identical_meshes_give_zero() -> None:
    _, gt = _toy_batch(seed=7)
    for name, values in evaluate_protocols(gt, gt, _regressors(), sorted(PROTOCOLS)).items():
        np.testing.assert_allclose(values, 0.0, atol=1e-6, err_msg=name)


def test_unknown_protocol_lists_allowed() -> None:
    pred, gt = _toy_batch()
    with pytest.raises(ValueError, match=r"spin14.*\['emdb', 'standard', 'vqhps'\]"):
        evaluate_protocol(pred, gt, _smooth_regressor(), "spin14")
    assert get_protocol("vqhps").alignment == "centroid" and get_protocol("standard").alignment == "pelvis"


def test_bad_regressor_shape_and_row_sums() -> None:
    pred, gt = _toy_batch()
    with pytest.raises(ValueError, match=r"\(17, V=20\)"):
        evaluate_protocol(pred, gt, _smooth_regressor().T, "vqhps")
    with pytest.warns(UserWarning, match="sum to"):
        evaluate_protocol(pred, gt, 2.0 * _smooth_regressor(), "standard")


def test_mismatched_meshes_raise() -> None:
    pred, gt = _toy_batch()
    with pytest.raises(ValueError, match="differ"):
        evaluate_protocol(pred[:2], gt, _smooth_regressor(), "standard")


def _emdb_case(move: int, offset: np.ndarray) -> dict[str, np.ndarray]:
    """A 30-vertex mesh whose SMPL-24 joint j is vertex j (one-hot rows); vertex ``move`` moved by offset."""
    gt = np.random.default_rng(8).normal(scale=0.3, size=(1, 30, 3))
    pred = gt.copy()
    pred[:, move] += offset
    reg = np.zeros((24, 30))
    reg[np.arange(24), np.arange(24)] = 1.0
    h36m = np.full((17, 30), 1.0 / 30)
    return evaluate_protocol(pred, gt, {"h36m": h36m, "smpl24": reg}, "emdb")


def test_hand_computed_emdb_hip_midpoint_alignment() -> None:
    # Move the left hip (SMPL joint 1) by 20 mm: the mid-hip root moves by 10 mm, so after alignment every
    # joint and vertex is 10 mm off (the left hip itself by 20 - 10): MPJPE = PVE = 10 mm.
    hip = _emdb_case(SMPL24_HIPS[0], np.array([0.020, 0.0, 0.0]))
    assert hip["mpjpe_mm"][0] == pytest.approx(10.0) and hip["pve_mm"][0] == pytest.approx(10.0)
    assert hip["pa_mpjpe_mm"][0] > 0.1, "one joint moved relative to the others"
    # Move the right wrist (SMPL joint 21) by 24 mm: root unchanged; MPJPE = 24/24, PVE = 24/30 mm.
    wrist = _emdb_case(21, np.array([0.0, 0.0, 0.024]))
    assert wrist["mpjpe_mm"][0] == pytest.approx(1.0) and wrist["pve_mm"][0] == pytest.approx(0.8)
    assert PROTOCOLS["emdb"].joints == tuple(range(24)) and PROTOCOLS["emdb"].test_sources == ("emdb1",)


def test_a_protocol_without_its_regressor_is_one_clear_error() -> None:
    pred, gt = _toy_batch()
    with pytest.raises(ValueError, match=r"'emdb' needs the smpl24 joint regressor \(24 x V\)"):
        evaluate_protocol(pred, gt, _smooth_regressor(), "emdb")


def test_every_protocol_documents_what_a_table_needs() -> None:
    for p in PROTOCOLS.values():
        assert p.name and p.description and p.gt_body_model and p.used_by, p.name
