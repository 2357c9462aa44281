"""Training losses of VQ-HPS (token CE, rotation MSE, 2D reprojection) and of the regression baseline.

Conventions: camera frame x right, y down, z forward (image axes); 2D keypoints in the [-1, 1] frame of the
square crop; 3D points in metres. Every loss returns a scalar float tensor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from vqhps.geometry import regress_joints


def token_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """Cross-entropy over codebook indices, mean over all B*T tokens.

    Args:
        logits: (B, T, K) float unnormalised scores.
        targets: (B, T) int64 codebook indices in [0, K).
    """
    if logits.shape[:2] != targets.shape:
        raise ValueError(
            f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} disagree on (B, T)"
        )
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


@torch.no_grad()
def token_accuracy(logits: Tensor, targets: Tensor) -> Tensor:
    """Fraction of tokens whose argmax is the target: logits (B, T, K), targets (B, T) -> scalar in [0, 1]."""
    return (logits.argmax(-1) == targets).float().mean()


def rotation_mse(pred: Tensor, target: Tensor) -> Tensor:
    """Mean squared error over the 9 entries of (B, 3, 3) rotation matrices (mean over B*9), unitless."""
    return F.mse_loss(pred, target)


def weak_perspective_project(points: Tensor, cam: Tensor) -> Tensor:
    """Orthographic projection ``x2d = s * (X[..., :2] + t)`` into the [-1, 1] crop frame.

    Args:
        points: (B, N, 3) camera-frame points (metres), centred near the origin.
        cam: (B, 3) weak-perspective camera (s, tx, ty); s in crop-units per metre, t in metres.

    Returns:
        (B, N, 2) projected points in the [-1, 1] crop frame.
    """
    scale, trans = cam[:, None, :1], cam[:, None, 1:]
    return scale * (points[..., :2] + trans)


def reprojection_l1(pred2d: Tensor, keypoints: Tensor) -> Tensor:
    """Confidence-weighted L1 2D reprojection loss, as the original: ``mean_{B,J}(mean_xy|d| * conf)``.

    Args:
        pred2d: (B, J, 2) projected joints, [-1, 1] crop frame.
        keypoints: (B, J, 3) targets (u, v, confidence/visibility in [0, 1]) or (B, J, 2) (all weight 1).

    The mean runs over all B*J joints, invisible ones included (weight 0), so the loss scale depends on
    the fraction of visible joints, exactly as in VQ-HPS.
    """
    conf = torch.ones_like(keypoints[..., 0]) if keypoints.shape[-1] == 2 else keypoints[..., 2]
    return ((pred2d - keypoints[..., :2]).abs().mean(-1) * conf).mean()


def vertex_l1(pred: Tensor, target: Tensor) -> Tensor:
    """Mean absolute coordinate error over (B, V, 3) vertices, metres."""
    return (pred - target).abs().mean()


def vertex_l2(pred: Tensor, target: Tensor) -> Tensor:
    """Mean per-vertex Euclidean distance over (B, V, 3) vertices, metres (the Mesh-VQ-VAE's V2V loss)."""
    return (pred - target).norm(dim=-1).mean()


def joint_l1(pred_verts: Tensor, target_verts: Tensor, regressor: Tensor) -> Tensor:
    """Mean absolute error of regressed joints: verts (B, V, 3), regressor (J, V) -> scalar, metres."""
    return vertex_l1(regress_joints(pred_verts, regressor), regress_joints(target_verts, regressor))
