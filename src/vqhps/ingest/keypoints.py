"""2D keypoints in J_regressor_h36m row order: from SPIN-J24 labels, or projected from a camera-frame mesh."""

from __future__ import annotations

import numpy as np
import torch

from vqhps.body.smpl import BodyModel
from vqhps.eval.protocols import H36M_TO_J17
from vqhps.io.errors import check_shape

__all__ = ["J24_TO_J17", "J24_TO_H36M", "spin24_to_h36m", "project_points", "camera_joints_h36m"]

# SPIN's J24 -> J17 selection (the keypoints VQ-HPS trains on, reference §3.4).
J24_TO_J17: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 18, 14, 16, 17)
# Both SPIN tables describe the same 17 joints: J17[k] = H36M[H36M_TO_J17[k]] = J24[J24_TO_J17[k]]. Composing
# them gives, per row of J_regressor_h36m, the J24 keypoint that labels the same joint.
J24_TO_H36M: tuple[int, ...] = tuple(J24_TO_J17[H36M_TO_J17.index(n)] for n in range(17))


def spin24_to_h36m(part: np.ndarray, source: str = "<keypoints>") -> np.ndarray:
    """SPIN J24 labels (``part`` of the CLIFF/BEDLAM npz) -> J_regressor_h36m row order.

    Args:
        part: (N, 24, 3) u px, v px, confidence.
        source: the file the labels come from (named in the error).

    Returns:
        (N, 17, 3) float32, same pixels and confidences, rows in the order of ``J_regressor_h36m``.
    """
    part = check_shape(source, "part", part, (None, 24, 3), "SPIN J24 keypoints").astype(np.float32)
    return part[:, list(J24_TO_H36M)]


def project_points(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pinhole projection with per-row intrinsics.

    Args:
        points: (N, J, 3) camera-frame points, metres (z forward).
        K: (N, 3, 3) or (3, 3) intrinsics, pixels.

    Returns:
        (N, J, 3) float32: u px, v px, and 1.0 where the point is in front of the camera (z > 1 mm), else 0
        (those pixels are meaningless and set to 0).
    """
    points = np.asarray(points, dtype=np.float64)
    K = np.broadcast_to(np.asarray(K, dtype=np.float64), (len(points), 3, 3))
    hom = np.einsum("nij,nkj->nki", K, points)
    front = points[..., 2] > 1e-3
    z = np.where(front, hom[..., 2], 1.0)
    uv = np.where(front[..., None], hom[..., :2] / z[..., None], 0.0)
    return np.concatenate([uv, front[..., None].astype(np.float64)], axis=-1).astype(np.float32)


def camera_joints_h36m(
    model: BodyModel,
    regressor: np.ndarray,
    betas: np.ndarray,
    pose: np.ndarray,
    trans: np.ndarray,
    cam_R: np.ndarray,
    cam_t: np.ndarray,
) -> np.ndarray:
    """The 17 H36M joints of a world-frame SMPL fit, in the camera frame.

    ``X_cam = R (LBS(betas, pose) + trans) + t``, joints = ``J_regressor_h36m @ X_cam``.

    Args:
        model: SMPL-family body model (the one the dataset's fits were made with).
        regressor: (17, V) native-H36M-order joint regressor.
        betas: (N, L) shape coefficients.
        pose: (N, 3J) world-frame axis-angle, joint 0 = global orientation, radians.
        trans: (N, 3) world translation, metres.
        cam_R: (N, 3, 3) world -> camera rotation.
        cam_t: (N, 3) world -> camera translation, metres.

    Returns:
        (N, 17, 3) float64 camera-frame joints, metres.
    """
    with torch.no_grad():
        out = model(
            torch.as_tensor(np.asarray(betas)[:, : model.num_betas], dtype=torch.float32),
            torch.as_tensor(np.asarray(pose), dtype=torch.float32),
        )
    verts = out.vertices.double().numpy() + np.asarray(trans, dtype=np.float64)[:, None]
    verts_cam = np.einsum("nij,nvj->nvi", np.asarray(cam_R, np.float64), verts) + np.asarray(cam_t)[:, None]
    return np.einsum("jv,nvc->njc", np.asarray(regressor, dtype=np.float64), verts_cam)
