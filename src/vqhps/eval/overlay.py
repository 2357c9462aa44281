"""2D placement of predicted and ground-truth meshes in an evaluation crop, for the overlay sheet.

Prediction: the posed mesh through the model's weak-perspective camera (``x = s * (X_xy + t)`` in the
[-1, 1] crop frame). Ground truth: the canonical GT mesh placed in the stored camera's frame and projected
with the stored pinhole camera (exact for the synthetic image set); where a dataset stores no camera
(NaN), a weak-perspective camera fitted to the GT 2D keypoints stands in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vqhps.data import augment
from vqhps.data.image_dataset import decode_image


def crop_frame_to_px(points: np.ndarray, size: int) -> np.ndarray:
    """[-1, 1] crop-frame points (..., 2) -> pixels of a ``size`` x ``size`` crop (x right, y down)."""
    return (np.asarray(points, np.float64) + 1.0) * (size / 2.0)


def weak_perspective_px(verts: np.ndarray, cam: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Project a posed mesh with a weak-perspective camera into a crop.

    Args:
        verts: (V, 3) posed vertices (camera-frame orientation, centred), metres.
        cam: (3,) (s, tx, ty): s in crop units per metre, t in metres.
        size: crop side, pixels.

    Returns:
        (V, 2) float64 pixels and (V,) depth (camera z, larger = farther) for painter's order.
    """
    verts = np.asarray(verts, np.float64)
    s, t = float(cam[0]), np.asarray(cam[1:], np.float64)
    return crop_frame_to_px(s * (verts[:, :2] + t), size), verts[:, 2]


def camera_frame_vertices(
    canonical: np.ndarray, global_rot: np.ndarray, cam_R: np.ndarray, cam_t: np.ndarray
) -> np.ndarray:
    """GT vertices in the stored camera's coordinates.

    The synthetic renderer rotates the canonical mesh about its centroid ``c`` by ``G_world`` and views it
    with ``x_cam = cam_R X + cam_t``; with ``global_rot = cam_R G_world`` this is
    ``x_cam = global_rot (v - c) + cam_R c + cam_t`` (``c`` is ~0 for the centred canonical meshes).

    Args:
        canonical: (V, 3) canonical GT vertices, metres.
        global_rot: (3, 3) canonical -> camera rotation.
        cam_R: (3, 3) world -> camera rotation; cam_t: (3,) world -> camera translation, metres.

    Returns:
        (V, 3) float64 camera-frame vertices, metres (z forward).
    """
    v = np.asarray(canonical, np.float64)
    c = v.mean(axis=0)
    rot, R = np.asarray(global_rot, np.float64), np.asarray(cam_R, np.float64)
    return (v - c) @ rot.T + R @ c + np.asarray(cam_t, np.float64)


def perspective_px(
    points_cam: np.ndarray, K: np.ndarray, affine: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pinhole projection of camera-frame points into a crop.

    Args:
        points_cam: (N, 3) camera-frame points, metres (z > 0 in front).
        K: (3, 3) intrinsics, pixels of the original image.
        affine: (2, 3) original-image pixels -> crop pixels (``augment.crop_affine``).

    Returns:
        (N, 2) float64 crop pixels and (N,) depth (z).
    """
    p = np.asarray(points_cam, np.float64)
    z = np.where(np.abs(p[:, 2]) < 1e-9, 1e-9, p[:, 2])
    K = np.asarray(K, np.float64)
    uv = p[:, :2] / z[:, None] * np.array([K[0, 0], K[1, 1]]) + K[:2, 2]
    return uv @ affine[:, :2].T + affine[:, 2], p[:, 2]


def fit_weak_perspective(joints: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """Least-squares weak-perspective camera mapping 3D joints onto 2D keypoints.

    Solves ``s * X + a = u``, ``s * Y + b = v`` over the visible joints (weights = confidence), then
    ``t = (a, b) / s``.

    Args:
        joints: (J, 3) posed joints, metres.
        keypoints: (J, 3) targets in the [-1, 1] crop frame with confidence, or (J, 2).

    Returns:
        (3,) float64 (s, tx, ty).

    Raises:
        ValueError: fewer than two joints have positive confidence.
    """
    j = np.asarray(joints, np.float64)
    kp = np.asarray(keypoints, np.float64)
    w = kp[:, 2] if kp.shape[1] > 2 else np.ones(len(kp))
    sel = w > 0
    if sel.sum() < 2:
        raise ValueError("need at least two visible keypoints to fit a weak-perspective camera")
    n = int(sel.sum())
    a = np.zeros((2 * n, 3))
    a[:n, 0], a[:n, 1] = j[sel, 0], 1.0
    a[n:, 0], a[n:, 2] = j[sel, 1], 1.0
    b = np.concatenate([kp[sel, 0], kp[sel, 1]])
    sw = np.sqrt(np.concatenate([w[sel], w[sel]]))
    s, ax, ay = np.linalg.lstsq(a * sw[:, None], b * sw, rcond=None)[0]
    return np.array([s, ax / s, ay / s]) if abs(s) > 1e-12 else np.array([s, 0.0, 0.0])


@dataclass
class OverlayPanel:
    """One test image prepared for the sheet: the crop and both meshes in its pixels.

    Attributes:
        crop: (S, S, 3) uint8 RGB.
        pred_2d, gt_2d: (V, 2) float64 pixels; pred_depth, gt_depth: (V,) depth.
        gt_keypoint_px: mean distance (px) between the GT joints projected the same way as the GT mesh and
            the stored 2D keypoints: a check of the GT placement (NaN when no keypoint is visible).
        gt_from_camera: True when the GT used the stored pinhole camera, False for the fitted fallback.
    """

    crop: np.ndarray
    pred_2d: np.ndarray
    pred_depth: np.ndarray
    gt_2d: np.ndarray
    gt_depth: np.ndarray
    gt_keypoint_px: float
    gt_from_camera: bool


def overlay_panel(
    sample: dict,
    camera: dict[str, np.ndarray],
    pred_verts: np.ndarray,
    pred_cam: np.ndarray,
    regressor: np.ndarray,
    size: int,
    bbox_rescale: float,
) -> OverlayPanel:
    """Crop one test image (no augmentation, as in evaluation) and place both meshes in it.

    Args:
        sample: an ``ImageSplit`` sample (``image`` bytes, ``bbox``, ``keypoints2d`` (17, 3) px,
            ``global_rot``, ``canonical_verts``).
        camera: ``cam_K``, ``cam_R`` (3, 3) and ``cam_t`` (3,) of the image (NaN where unknown).
        pred_verts: (V, 3) predicted posed mesh, metres; pred_cam: (3,) its weak-perspective camera.
        regressor: (17, V) joint regressor (for the GT placement check and the fallback fit).
        size: crop side of the sheet, pixels (any size: the crop frame is resolution-free).
        bbox_rescale: square box side = rescale * max(bbox w, h), as in the models' crops.
    """
    center, box = augment.bbox_to_box(sample["bbox"], bbox_rescale)
    affine = augment.crop_affine(center, box, size)
    crop = augment.warp_affine(decode_image(sample["image"]), affine, size)
    pred_2d, pred_depth = weak_perspective_px(pred_verts, pred_cam, size)
    reg = np.asarray(regressor, np.float64)
    kp = np.asarray(sample["keypoints2d"], np.float64)
    kp_crop = np.concatenate([kp[:, :2] @ affine[:, :2].T + affine[:, 2], kp[:, 2:3]], axis=1)
    cams = [np.asarray(camera[k], np.float64) for k in ("cam_K", "cam_R", "cam_t")]
    from_camera = all(np.isfinite(c).all() for c in cams)
    if from_camera:
        verts_cam = camera_frame_vertices(sample["canonical_verts"], sample["global_rot"], cams[1], cams[2])
        gt_2d, gt_depth = perspective_px(verts_cam, cams[0], affine)
        joints_2d, _ = perspective_px(reg @ verts_cam, cams[0], affine)
    else:
        posed = np.asarray(sample["canonical_verts"], np.float64) @ np.asarray(sample["global_rot"]).T
        posed = posed - posed.mean(axis=0)
        norm_kp = np.concatenate([kp_crop[:, :2] * (2.0 / size) - 1.0, kp_crop[:, 2:]], axis=1)
        cam = fit_weak_perspective(reg @ posed, norm_kp)
        gt_2d, gt_depth = weak_perspective_px(posed, cam, size)
        joints_2d, _ = weak_perspective_px(reg @ posed, cam, size)
    visible = kp_crop[:, 2] > 0
    err = np.linalg.norm(joints_2d - kp_crop[:, :2], axis=1)[visible]
    return OverlayPanel(
        crop,
        pred_2d,
        pred_depth,
        gt_2d,
        gt_depth,
        float(err.mean()) if err.size else float("nan"),
        from_camera,
    )
