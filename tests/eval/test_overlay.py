"""Overlay placement: GT through the stored camera matches the renderer projection; weak-perspective fit."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from vqhps.data import augment
from vqhps.eval.overlay import (
    camera_frame_vertices,
    fit_weak_perspective,
    overlay_panel,
    perspective_px,
    weak_perspective_px,
)
from vqhps.geometry import random_rotations
from vqhps.render.camera import Camera, intrinsics, look_at

V = 40


def _scene(seed: int = 0):
    """A centred canonical 'body', a global rotation and a camera, placed as the synthetic renderer does."""
    rng = np.random.default_rng(seed)
    canonical = rng.normal(size=(V, 3)) * [0.2, 0.8, 0.1]
    canonical -= canonical.mean(0)
    rot_world = random_rotations(1).numpy()[0].astype(np.float64)
    R, t = look_at(np.array([0.3, 0.4, 4.0]), np.zeros(3))
    cam = Camera(intrinsics(45.0, 128, 128), R, t, 128, 128)
    world = (canonical - canonical.mean(0)) @ rot_world.T + canonical.mean(0)
    reg = rng.random((17, V))
    reg /= reg.sum(1, keepdims=True)
    return canonical, rot_world, cam, world, reg


def test_gt_camera_frame_vertices_reproduce_the_renderer_projection():
    canonical, rot_world, cam, world, _ = _scene()
    expected_uv, expected_z = cam.project(world)
    verts_cam = camera_frame_vertices(canonical, cam.R @ rot_world, cam.R, cam.t)
    identity = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    uv, z = perspective_px(verts_cam, cam.K, identity)
    np.testing.assert_allclose(uv, expected_uv, atol=1e-8)
    np.testing.assert_allclose(z, expected_z, atol=1e-10)
    wrong = camera_frame_vertices(canonical, rot_world, cam.R, cam.t)  # forgetting cam_R in global_rot
    assert np.abs(perspective_px(wrong, cam.K, identity)[0] - expected_uv).max() > 1.0


def test_weak_perspective_fit_recovers_the_camera_and_projects_to_crop_pixels():
    joints = np.random.default_rng(1).normal(size=(17, 3))
    cam = np.array([0.8, 0.1, -0.2])
    kp = np.concatenate([cam[0] * (joints[:, :2] + cam[1:]), np.ones((17, 1))], 1)
    kp[3] = [5.0, 5.0, 0.0]  # an invisible, wrong keypoint must not matter
    np.testing.assert_allclose(fit_weak_perspective(joints, kp), cam, atol=1e-10)
    px, depth = weak_perspective_px(np.zeros((1, 3)), np.array([1.0, 0.0, 0.0]), 64)
    np.testing.assert_allclose(px, [[32.0, 32.0]])
    np.testing.assert_allclose(depth, [0.0])
    with pytest.raises(ValueError, match="two visible"):
        fit_weak_perspective(joints, np.zeros((17, 3)))


def _png(size: int = 128) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((size, size, 3), 90, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_overlay_panel_places_gt_on_the_stored_keypoints_with_and_without_a_camera():
    canonical, rot_world, cam, world, reg = _scene(2)
    uv, _ = cam.project(world)
    kp_uv, _ = cam.project(reg @ world)
    sample = {
        "image": _png(),
        "bbox": np.concatenate([uv.min(0), uv.max(0)]),
        "keypoints2d": np.concatenate([kp_uv, np.ones((17, 1))], 1),
        "global_rot": cam.R @ rot_world,
        "canonical_verts": canonical,
    }
    pred = canonical @ (cam.R @ rot_world).T
    camera = {"cam_K": cam.K, "cam_R": cam.R, "cam_t": cam.t}
    panel = overlay_panel(sample, camera, pred, np.array([1.0, 0.0, 0.0]), reg, 96, 1.2)
    assert panel.crop.shape == (96, 96, 3) and panel.gt_from_camera
    assert panel.gt_keypoint_px < 1e-6, "GT joints projected like the GT mesh land on the stored keypoints"
    center, box = augment.bbox_to_box(sample["bbox"], 1.2)
    affine = augment.crop_affine(center, box, 96)
    np.testing.assert_allclose(panel.gt_2d, uv @ affine[:, :2].T + affine[:, 2], atol=1e-8)
    nan = {k: np.full_like(v, np.nan) for k, v in camera.items()}
    fallback = overlay_panel(sample, nan, pred, np.array([1.0, 0.0, 0.0]), reg, 96, 1.2)
    assert not fallback.gt_from_camera
    # Orthographic fit to a perspective view: close to the keypoints, but not exact.
    assert fallback.gt_keypoint_px < 0.05 * 96
