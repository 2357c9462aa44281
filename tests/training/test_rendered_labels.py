"""Augmented training crops keep their labels consistent: keypoints, global rotation and (mirrored) mesh.

For every crop of rendered figures (flips, in-plane rotations, scales), the 2D keypoints must be the
weak-perspective projection of the item's own canonical mesh joints posed by the item's own rotation
target, up to a positive scale and a translation (what the reprojection loss assumes). A label left
unchanged by an augmentation of the image would break it.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from helpers import rendered_fixtures as rf
from vqhps.data.augment import vertex_mirror_permutation
from vqhps.data.crop_config import PAPER_AUGMENT, CropConfig
from vqhps.data.image_dataset import ImageCropDataset


def _weak_perspective_fit(points3d: np.ndarray, keypoints: np.ndarray) -> tuple[float, float]:
    """Least-squares ``kp = s (X[:, :2] + t)``: (mean |residual| in crop units, s)."""
    xy = points3d[:, :2]
    a = np.concatenate([xy.reshape(-1, 1), np.tile(np.eye(2), (len(xy), 1))], axis=1)
    solution, *_ = np.linalg.lstsq(a, keypoints[:, :2].reshape(-1), rcond=None)
    return float(np.abs(a @ solution - keypoints[:, :2].reshape(-1)).mean()), float(solution[0])


@pytest.fixture(scope="module")
def dataset() -> ImageCropDataset:
    topo = rf.topology()
    samples = rf.rendered_samples(rf.meshes(16, seed=3), image_size=96, seed=4)
    config = CropConfig(
        size=64, augment=replace(PAPER_AUGMENT, flip_prob=0.5, rot_prob=1.0, photometric_prob=0.0)
    )
    return ImageCropDataset(samples, config, vertex_mirror_permutation(topo.vertices), seed=2)


def test_augmented_keypoints_are_the_projection_of_the_posed_target_mesh(dataset):
    reg = rf.topology().joint_regressor.astype(np.float64)
    flips, residuals, wrong = [], [], []
    for epoch in range(2):
        dataset.set_epoch(epoch)
        for i in range(len(dataset)):
            item = dataset[i]
            joints = reg @ item["canonical_verts"].numpy().astype(np.float64)
            rot = item["global_rot"].numpy().astype(np.float64)
            kp = item["keypoints2d"].numpy()
            residual, scale = _weak_perspective_fit(joints @ rot.T, kp)
            assert scale > 0, f"item {i}, epoch {epoch}: the projection is mirrored (scale {scale:.3f})"
            residuals.append(residual)
            flips.append(bool(item["flipped"]))
            raw = dataset.samples[i]  # the un-augmented labels, for contrast
            wrong.append(_weak_perspective_fit(reg @ raw["canonical_verts"] @ raw["global_rot"].T, kp)[0])
    residuals, wrong, flips = np.array(residuals), np.array(wrong), np.array(flips)
    assert 0 < flips.sum() < len(flips), "the draw should flip some crops and not others"
    # Perspective alone leaves a few hundredths of the crop; an unaugmented label leaves far more.
    assert residuals.max() < 0.08, residuals.round(3)
    assert np.median(wrong) > 3 * np.median(residuals), (np.median(wrong), np.median(residuals))
