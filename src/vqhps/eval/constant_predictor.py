"""The constant predictor: what a model that learned nothing from the images scores.

It predicts, for every test image, the same posed mesh: the training set's mean canonical mesh turned by
the one rotation that minimises its mean per-vertex error over the training set. It never sees a test
image or a test label, so its errors are the floor a trained model must beat to have learned anything:
the rotation error of a fixed orientation against the test set's yaw over the full circle, and the
shape/pose error of the mean body.

The rotation minimises the mean (not squared) vertex distance ``mean_iv |R m_v - R_i c_iv|`` (the PVE
the tables report, before alignment): orthogonal Procrustes on the summed outer products gives the
least-squares rotation, then a few iteratively reweighted Procrustes steps (weights ``1 / distance``,
Weiszfeld's scheme) move it to the mean-distance minimum.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from vqhps.eval.evaluation import Prediction, Predictor

_EPS_M = 1e-6  # metres: floor of a distance in the reweighting (a zero distance would get infinite weight)


def centred(verts: np.ndarray) -> np.ndarray:
    """(N, V, 3) or (V, 3) meshes minus their own vertex centroid, same shape, float64."""
    verts = np.asarray(verts, np.float64)
    return verts - verts.mean(axis=-2, keepdims=True)


def mean_canonical_mesh(canonical: np.ndarray) -> np.ndarray:
    """The mean of centred canonical meshes: (N, V, 3) metres -> (V, 3) float64 metres, centred."""
    if len(canonical) == 0:
        raise ValueError("the mean canonical mesh needs at least one training mesh")
    return centred(canonical).mean(axis=0)


def _procrustes(cross: np.ndarray) -> np.ndarray:
    """Rotation R (3, 3) maximising trace(R^T cross), det R = +1 (orthogonal Procrustes)."""
    u, _, vt = np.linalg.svd(cross)
    fix = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    return u @ fix @ vt


def best_constant_rotation(
    mean_mesh: np.ndarray,
    canonical: np.ndarray,
    global_rot: np.ndarray,
    iterations: int = 20,
) -> np.ndarray:
    """The one rotation R that best places ``mean_mesh`` onto every posed training mesh.

    Args:
        mean_mesh: (V, 3) centred mean canonical mesh, metres.
        canonical: (N, V, 3) training canonical meshes, metres (centred here).
        global_rot: (N, 3, 3) their global rotations (canonical -> camera frame).
        iterations: reweighted Procrustes steps after the least-squares start (0 = least squares only).

    Returns:
        (3, 3) float64 rotation minimising ``mean_i mean_v |R m_v - R_i c_iv|`` (to a local minimum).
    """
    mean_mesh = np.asarray(mean_mesh, np.float64)
    posed = np.einsum("nij,nvj->nvi", np.asarray(global_rot, np.float64), centred(canonical))  # (N, V, 3)
    weights = np.ones(posed.shape[:2])
    rot = np.eye(3)
    for _ in range(iterations + 1):
        cross = np.einsum("nv,nvi,vj->ij", weights, posed, mean_mesh)  # sum w * y m^T
        rot = _procrustes(cross)
        distance = np.linalg.norm(posed - mean_mesh @ rot.T, axis=-1)
        weights = 1.0 / np.maximum(distance, _EPS_M)
    return rot


def mean_vertex_error_m(
    mesh: np.ndarray, rot: np.ndarray, canonical: np.ndarray, global_rot: np.ndarray
) -> float:
    """Mean vertex distance (metres) of ``mesh @ rot^T`` to every posed, centred mesh (no other alignment)."""
    posed = np.einsum("nij,nvj->nvi", np.asarray(global_rot, np.float64), centred(canonical))
    return float(np.linalg.norm(posed - centred(mesh) @ np.asarray(rot).T, axis=-1).mean())


def fit_constant(canonical: np.ndarray, global_rot: np.ndarray, iterations: int = 20) -> tuple:
    """(mean mesh (V, 3), rotation (3, 3)) of the constant predictor, from the training meshes."""
    mean_mesh = mean_canonical_mesh(canonical)
    return mean_mesh, best_constant_rotation(mean_mesh, canonical, global_rot, iterations)


def constant_predictor(mean_mesh: np.ndarray, rot: np.ndarray) -> Predictor:
    """Predictor returning ``mean_mesh @ rot^T`` (and ``rot``) for every sample of a batch; no image read."""
    posed = torch.as_tensor(centred(mean_mesh) @ np.asarray(rot, np.float64).T, dtype=torch.float32)
    rotmat = torch.as_tensor(np.asarray(rot), dtype=torch.float32)

    def predict(batch: dict[str, Tensor]) -> Prediction:
        n, device = len(batch["global_rot"]), batch["global_rot"].device
        return Prediction(
            posed.to(device).expand(n, -1, -1).clone(), rotmat.to(device).expand(n, -1, -1).clone()
        )

    return predict


def training_constant(images_dir: str, meshes_dir: str, sources=None, iterations: int = 20) -> tuple:
    """(mean mesh, rotation) fitted on every ``train`` image of an image set (of ``sources``; None = all)."""
    from vqhps.data.image_splits import load_image_split

    train = load_image_split(images_dir, meshes_dir, "train", sources)
    if not len(train):
        raise ValueError(f"{images_dir}: the constant predictor needs train images; the train split is empty")
    canonical = np.stack([s["canonical_verts"] for s in train.samples])
    rots = np.stack([s["global_rot"] for s in train.samples])
    return fit_constant(canonical, rots, iterations)
