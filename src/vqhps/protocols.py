"""The two named evaluation protocols (`vqhps` centroid/17 joints, `standard` pelvis/14 LSP joints)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from vqhps.metrics import ArrayLike, as_points, mpjpe_mm, pa_mpjpe_mm, pve_mm

# Native H36M joint order of a (17, V) regressor such as SMPL's J_regressor_h36m (and the project's Anny one).
# Rows of SPIN's J_regressor_h36m.npy as its H36M_TO_J17 table names them (legs: rows 1-3 left, 4-6 right).
H36M_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "lhip", "lknee", "lankle", "rhip", "rknee", "rankle", "spine", "thorax",
    "neck_nose", "head", "lshoulder", "lelbow", "lwrist", "rshoulder", "relbow", "rwrist",
)  # fmt: skip
# SPIN's reordering of the H36M regressor output; its first 14 entries are the 14 LSP joints (ankles, knees,
# hips, wrists, elbows, shoulders, neck, head top) used by the SPIN/CLIFF protocol.
H36M_TO_J17: tuple[int, ...] = (6, 5, 4, 1, 2, 3, 16, 15, 14, 11, 12, 13, 8, 10, 0, 7, 9)
H36M_TO_J14: tuple[int, ...] = H36M_TO_J17[:14]
H36M_PELVIS = 0

METRIC_KEYS: tuple[str, ...] = ("pve_mm", "mpjpe_mm", "pa_mpjpe_mm")


@dataclass(frozen=True)
class Protocol:
    """One evaluation protocol: which joints, and how meshes are translated before comparison."""

    name: str  # registry key, used in tables and file names
    joints: tuple[int, ...]  # indices into the native-H36M (17, 3) regressed joints
    alignment: str  # "centroid": subtract the mean vertex; "pelvis": subtract regressed H36M joint 0
    description: str  # one line for tables and reports


PROTOCOLS: dict[str, Protocol] = {
    "vqhps": Protocol(
        name="vqhps",
        joints=H36M_TO_J17,
        alignment="centroid",
        description=(
            "VQ-HPS code (eval.py since commit 85be149): both meshes centred on their mean vertex; "
            "PVE over all vertices; MPJPE and PA-MPJPE on 17 H36M joints (H36M_TO_J17)"
        ),
    ),
    "standard": Protocol(
        name="standard",
        joints=H36M_TO_J14,
        alignment="pelvis",
        description=(
            "SPIN/CLIFF: 14 LSP joints (H36M_TO_J14); joints and vertices minus the regressed H36M pelvis "
            "(joint 0, taken before sub-selection); PA-MPJPE on the 14 joints"
        ),
    ),
}


def get_protocol(name: str) -> Protocol:
    """Look a protocol up by name.

    Args:
        name: a key of :data:`PROTOCOLS`.

    Returns:
        The :class:`Protocol`.

    Raises:
        ValueError: the name is unknown; the message lists the allowed names.
    """
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ValueError(f"unknown evaluation protocol {name!r}; allowed: {sorted(PROTOCOLS)}") from None


def _regressor_tensor(regressor: ArrayLike, num_verts: int, like: Tensor) -> Tensor:
    r = regressor.detach() if isinstance(regressor, Tensor) else torch.from_numpy(np.asarray(regressor))
    if r.ndim != 2 or r.shape[0] != len(H36M_JOINT_NAMES) or r.shape[1] != num_verts:
        raise ValueError(
            f"regressor must have shape (17, V={num_verts}) in J_regressor_h36m row order, "
            f"got {tuple(r.shape)}"
        )
    r = r.to(device=like.device, dtype=like.dtype)
    row_sums = r.sum(dim=1)
    # A joint regressor is a set of convex vertex weights; rows far from 1 usually mean a transposed or
    # wrong file, and they break translation invariance of the pelvis-aligned protocol.
    if torch.any((row_sums - 1.0).abs() > 1e-2):
        warnings.warn(
            f"joint regressor rows sum to {row_sums.min().item():.3f}..{row_sums.max().item():.3f}, "
            "not 1: pelvis-aligned errors will not be translation invariant",
            stacklevel=3,
        )
    return r


def _aligned(verts: Tensor, regressor: Tensor, alignment: str) -> tuple[Tensor, Tensor]:
    """(B, V, 3) -> (aligned vertices (B, V, 3), aligned native-order joints (B, 17, 3))."""
    if alignment == "centroid":
        # VQ-HPS centres the meshes first and regresses joints from the centred meshes.
        verts = verts - verts.mean(dim=1, keepdim=True)
        return verts, torch.einsum("jv,bvc->bjc", regressor, verts)
    if alignment == "pelvis":
        joints = torch.einsum("jv,bvc->bjc", regressor, verts)
        pelvis = joints[:, H36M_PELVIS : H36M_PELVIS + 1]  # (B, 1, 3), before joint sub-selection
        return verts - pelvis, joints - pelvis
    raise ValueError(f"unknown alignment {alignment!r}; allowed: 'centroid', 'pelvis'")


def evaluate_protocol(
    pred_verts: ArrayLike, gt_verts: ArrayLike, regressor: ArrayLike, protocol: str
) -> dict[str, np.ndarray]:
    """Per-sample PVE, MPJPE and PA-MPJPE under one named protocol.

    Args:
        pred_verts: (B, V, 3) predicted vertices, metres (numpy or torch, any device).
        gt_verts: (B, V, 3) ground-truth vertices, metres, same topology.
        regressor: (17, V) joint regressor in J_regressor_h36m row order (see :data:`H36M_JOINT_NAMES`).
        protocol: a key of :data:`PROTOCOLS` (``"vqhps"`` or ``"standard"``).

    Returns:
        ``{"pve_mm", "mpjpe_mm", "pa_mpjpe_mm"}`` -> (B,) float64 numpy arrays, mm.

    Note:
        Work is done in float64 on the input's device with O(B * V) memory: call it per batch of a loader
        (e.g. 64 samples) and concatenate, rather than on a whole test set at once.

    Raises:
        ValueError: unknown protocol, mismatched shapes, or a regressor not shaped (17, V).
    """
    proto = get_protocol(protocol)
    pred, gt = as_points(pred_verts, "pred_verts"), as_points(gt_verts, "gt_verts")
    if pred.shape != gt.shape:
        raise ValueError(f"pred_verts and gt_verts shapes differ: {tuple(pred.shape)} vs {tuple(gt.shape)}")
    gt = gt.to(pred.device)
    reg = _regressor_tensor(regressor, pred.shape[1], pred)
    pred_v, pred_j = _aligned(pred, reg, proto.alignment)
    gt_v, gt_j = _aligned(gt, reg, proto.alignment)
    sel = list(proto.joints)
    pred_j, gt_j = pred_j[:, sel], gt_j[:, sel]
    return {
        "pve_mm": pve_mm(pred_v, gt_v, reduce=False),
        "mpjpe_mm": mpjpe_mm(pred_j, gt_j, reduce=False),
        "pa_mpjpe_mm": pa_mpjpe_mm(pred_j, gt_j, reduce=False),
    }


def evaluate_protocols(
    pred_verts: ArrayLike,
    gt_verts: ArrayLike,
    regressor: ArrayLike,
    protocols: Sequence[str] = tuple(PROTOCOLS),
) -> dict[str, np.ndarray]:
    """Several protocols side by side, keys prefixed by protocol name (``"vqhps/pve_mm"``, ...).

    Args:
        pred_verts: (B, V, 3) predicted vertices, metres.
        gt_verts: (B, V, 3) ground-truth vertices, metres.
        regressor: (17, V) native-H36M-order joint regressor.
        protocols: names from :data:`PROTOCOLS`; all of them by default.

    Returns:
        ``"<protocol>/<metric>"`` -> (B,) float64 numpy arrays, mm.
    """
    out: dict[str, np.ndarray] = {}
    for name in protocols:
        for key, values in evaluate_protocol(pred_verts, gt_verts, regressor, name).items():
            out[f"{name}/{key}"] = values
    return out
