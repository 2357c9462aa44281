"""Per-sample PVE, MPJPE and PA-MPJPE under a named protocol (:mod:`vqhps.eval.protocols`), in mm."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from vqhps.eval.protocols import (
    ALIGNMENTS,
    DEFAULT_PROTOCOLS,
    H36M_PELVIS,
    REGRESSOR_ROWS,
    SMPL24_HIPS,
    Protocol,
    get_protocol,
)
from vqhps.metrics import ArrayLike, as_points, mpjpe_mm, pa_mpjpe_mm, pve_mm

Regressors = ArrayLike | Mapping[str, ArrayLike]


def select_regressor(regressors: Regressors, protocol: Protocol) -> ArrayLike:
    """The joint regressor a protocol needs from an array (the H36M one) or a ``{"h36m", "smpl24"}`` mapping.

    Raises:
        ValueError: the protocol needs a regressor that is not given (one line naming it).
    """
    if not isinstance(regressors, Mapping):
        regressors = {"h36m": regressors}
    if protocol.regressor not in regressors or regressors[protocol.regressor] is None:
        raise ValueError(
            f"protocol {protocol.name!r} needs the {protocol.regressor} joint regressor "
            f"({REGRESSOR_ROWS[protocol.regressor]} x V), which this topology does not provide; "
            "drop it from evaluate.protocols"
        )
    return regressors[protocol.regressor]


def _regressor_tensor(regressor: ArrayLike, rows: int, num_verts: int, like: Tensor) -> Tensor:
    r = regressor.detach() if isinstance(regressor, Tensor) else torch.from_numpy(np.asarray(regressor))
    if r.ndim != 2 or r.shape[0] != rows or r.shape[1] != num_verts:
        raise ValueError(
            f"regressor must have shape ({rows}, V={num_verts}) in its native joint row order, "
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
    """(B, V, 3) -> (aligned vertices (B, V, 3), aligned native-order joints (B, J, 3))."""
    if alignment == "centroid":
        # VQ-HPS centres the meshes first and regresses joints from the centred meshes.
        verts = verts - verts.mean(dim=1, keepdim=True)
        return verts, torch.einsum("jv,bvc->bjc", regressor, verts)
    joints = torch.einsum("jv,bvc->bjc", regressor, verts)
    if alignment == "pelvis":
        root = joints[:, H36M_PELVIS : H36M_PELVIS + 1]  # (B, 1, 3), before joint sub-selection
    elif alignment == "hips":
        root = joints[:, list(SMPL24_HIPS)].mean(dim=1, keepdim=True)  # EMDB's align_by_pelvis
    else:
        raise ValueError(f"unknown alignment {alignment!r}; allowed: {list(ALIGNMENTS)}")
    return verts - root, joints - root


def evaluate_protocol(
    pred_verts: ArrayLike, gt_verts: ArrayLike, regressor: Regressors, protocol: str
) -> dict[str, np.ndarray]:
    """Per-sample PVE, MPJPE and PA-MPJPE under one named protocol.

    Args:
        pred_verts: (B, V, 3) predicted vertices, metres (numpy or torch, any device).
        gt_verts: (B, V, 3) ground-truth vertices, metres, same topology.
        regressor: (17, V) joint regressor in J_regressor_h36m row order (see :data:`H36M_JOINT_NAMES`),
            or a mapping ``{"h36m": (17, V), "smpl24": (24, V)}`` (the ``emdb`` protocol needs the latter).
        protocol: a key of :data:`PROTOCOLS`.

    Returns:
        ``{"pve_mm", "mpjpe_mm", "pa_mpjpe_mm"}`` -> (B,) float64 numpy arrays, mm.

    Note:
        Work is done in float64 on the input's device with O(B * V) memory: call it per batch of a loader
        (e.g. 64 samples) and concatenate, rather than on a whole test set at once.

    Raises:
        ValueError: unknown protocol, mismatched shapes, or a missing / wrongly shaped regressor.
    """
    proto = get_protocol(protocol)
    pred, gt = as_points(pred_verts, "pred_verts"), as_points(gt_verts, "gt_verts")
    if pred.shape != gt.shape:
        raise ValueError(f"pred_verts and gt_verts shapes differ: {tuple(pred.shape)} vs {tuple(gt.shape)}")
    gt = gt.to(pred.device)
    rows = REGRESSOR_ROWS[proto.regressor]
    reg = _regressor_tensor(select_regressor(regressor, proto), rows, pred.shape[1], pred)
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
    regressor: Regressors,
    protocols: Sequence[str] = DEFAULT_PROTOCOLS,
) -> dict[str, np.ndarray]:
    """Several protocols side by side, keys prefixed by protocol name (``"vqhps/pve_mm"``, ...).

    Args:
        pred_verts: (B, V, 3) predicted vertices, metres.
        gt_verts: (B, V, 3) ground-truth vertices, metres.
        regressor: (17, V) native-H36M-order joint regressor, or a mapping of them
            (:func:`evaluate_protocol`).
        protocols: names from :data:`PROTOCOLS`; by default the two that need only the H36M regressor.

    Returns:
        ``"<protocol>/<metric>"`` -> (B,) float64 numpy arrays, mm.
    """
    out: dict[str, np.ndarray] = {}
    for name in protocols:
        for key, values in evaluate_protocol(pred_verts, gt_verts, regressor, name).items():
            out[f"{name}/{key}"] = values
    return out
