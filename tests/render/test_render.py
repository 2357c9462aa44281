"""Tests of the camera, the Warp ray caster and synthetic sample generation."""

from __future__ import annotations

import numpy as np
import pytest

from vqhps.data.image_dataset import decode_image
from vqhps.render.camera import Camera, intrinsics, look_at, random_orbit_camera
from vqhps.render.rasterizer import rasterize
from vqhps.render.synthetic import (
    encode_image,
    keypoint_visibility,
    render_many,
    render_sample,
    sample_rng,
    sparse_regress,
    top_vertices,
)
from vqhps.render.warp_raycast import WarpMesh, mesh_for


def _cube(half: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned cube centred at the origin: (8, 3) float32 vertices, (12, 3) int64 triangles."""
    v = np.array([[x, y, z] for x in (-half, half) for y in (-half, half) for z in (-half, half)], np.float32)
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    faces = np.array([t for q in quads for t in ((q[0], q[1], q[2]), (q[0], q[2], q[3]))], np.int64)
    return v, faces


def _front_camera(size: int = 64, distance: float = 3.0) -> Camera:
    R, t = look_at(np.array([0.0, 0.0, distance]), np.zeros(3))
    return Camera(intrinsics(60.0, size, size), R, t, size, size)


def test_look_at_is_a_proper_opencv_camera():
    cam = _front_camera()
    assert np.isclose(np.linalg.det(cam.R), 1.0) and np.allclose(cam.R @ cam.R.T, np.eye(3))
    np.testing.assert_allclose(cam.center, [0.0, 0.0, 3.0], atol=1e-12)
    uv, z = cam.project(np.array([[0.0, 0.0, 0.0], [0.2, 0.3, 0.5]]))
    f = cam.K[0, 0]
    np.testing.assert_allclose(uv[0], [32.0, 32.0])
    # Camera looks along -Z world with +Y up: world +X is image right, world +Y is image up.
    np.testing.assert_allclose(uv[1], [32.0 + f * 0.2 / 2.5, 32.0 - f * 0.3 / 2.5])
    np.testing.assert_allclose(z, [3.0, 2.5])


def test_cube_covers_exactly_the_analytic_pixels():
    v, faces = _cube()
    cam = _front_camera()
    mesh = WarpMesh(faces, v)
    mesh.set_points(v)
    result = mesh.render(
        cam, np.zeros((64, 64, 3), np.float32), np.array([0.8, 0.6, 0.4]), np.array([0.0, 0, 1])
    )
    # The front face (z = 0.5) projects to a square; a pixel is covered iff its centre lies inside.
    f = cam.K[0, 0]
    lo, hi = 32.0 - f * 0.5 / 2.5, 32.0 + f * 0.5 / 2.5
    centres = np.arange(64) + 0.5
    inside = (centres > lo) & (centres < hi)
    np.testing.assert_array_equal(result.mask, inside[:, None] & inside[None, :])
    np.testing.assert_allclose(result.depth[32, 32], 2.5, atol=1e-5)
    assert np.all(np.isinf(result.depth[~result.mask]))
    assert np.all(result.image[~result.mask] == 0.0)
    # Lit head-on: shade = albedo * (ambient + diffuse) up to the smoothed cube-corner normals.
    np.testing.assert_allclose(result.image[32, 32], [0.8, 0.6, 0.4], atol=0.02)


def test_rasteriser_matches_the_ray_caster_on_the_cube():
    v, faces = _cube()
    mesh = WarpMesh(faces, v)
    mesh.set_points(v)
    bg = np.full((64, 64, 3), 0.5, np.float32)
    for eye in ([0.0, 0.0, 3.0], [2.0, 1.5, 2.5], [-2.5, -1.0, 1.0]):
        R, t = look_at(np.array(eye), np.zeros(3))
        cam = Camera(intrinsics(50.0, 64, 64), R, t, 64, 64)
        albedo, light = np.array([0.9, 0.5, 0.3]), -R[2]
        ray = mesh.render(cam, bg, albedo, light)
        raster = rasterize(mesh, cam, bg, albedo, light)
        np.testing.assert_array_equal(raster.mask, ray.mask)
        np.testing.assert_allclose(raster.depth[ray.mask], ray.depth[ray.mask], atol=1e-4)
        np.testing.assert_allclose(raster.image, ray.image, atol=2e-3)
        assert ray.mask.sum() > 100


def test_sparse_regression_equals_dense():
    rng = np.random.default_rng(0)
    reg = np.where(rng.random((17, 40)) < 0.2, rng.random((17, 40)), 0.0)
    reg[:, 0] += 1e-3  # every row has a weight
    verts = rng.normal(size=(40, 3))
    rows, cols = np.nonzero(reg)
    np.testing.assert_allclose(sparse_regress((rows, cols, reg[rows, cols]), verts), reg @ verts, atol=1e-12)


def test_occlusion_and_keypoint_visibility():
    v, faces = _cube()
    cam = _front_camera()
    mesh = mesh_for(faces, v)
    hidden, front_surface, in_front = [0.0, 0.0, -0.5], [0.0, 0.0, 0.5], [0.1, 0.0, 1.0]
    occ = mesh.occluded(cam, np.array([hidden, front_surface, in_front]))
    np.testing.assert_array_equal(occ, [True, False, False])
    # Vertex 1 = (-.5, -.5, .5) faces the camera; vertex 0 = (-.5, -.5, -.5) is behind the cube.
    top = np.array([[1], [0], [0]])
    uv, _ = cam.project(v[top[:, 0]])
    uv[2] = [-5.0, 10.0]  # a joint projected outside the image is never visible
    visible = keypoint_visibility(mesh, cam, uv, v, top)
    np.testing.assert_array_equal(visible, [True, False, False])
    either = keypoint_visibility(mesh, cam, uv[:1], v, np.array([[0, 1]]))
    assert either[0]  # visible when any of its surface vertices is


def _human():
    """A small posed Anny-like test mesh: the cube stretched into a 1.7 m tall box, plus a regressor."""
    v, faces = _cube()
    v = v * np.array([0.4, 1.7, 0.25], np.float32)
    reg = np.zeros((17, 8), np.float32)
    reg[np.arange(17), np.arange(17) % 8] = 1.0
    return v, faces, reg


def test_render_sample_labels_are_consistent_with_its_camera():
    v, faces, reg = _human()
    s = render_sample(v, faces, reg, sample_rng(3, 11), 96, return_verts=True)
    assert s.image.shape == (96, 96, 3) and s.image.dtype == np.uint8
    rot = s.global_rot_cam
    assert np.allclose(rot @ rot.T, np.eye(3), atol=1e-5) and np.isclose(np.linalg.det(rot), 1.0, atol=1e-5)
    # Rebuild the world mesh from the labels and project the joints analytically.
    g = s.cam_R.T @ rot
    world = (v - v.mean(0)) @ g.T + v.mean(0)
    cam = (world @ s.cam_R.T + s.cam_t).astype(np.float64)
    np.testing.assert_allclose(s.verts_cam, cam, atol=1e-4)
    joints = reg @ cam
    uv = joints[:, :2] / joints[:, 2:] * np.diag(s.cam_K)[:2] + s.cam_K[:2, 2]
    np.testing.assert_allclose(s.keypoints2d[:, :2], uv, atol=1e-3)
    proj = cam[:, :2] / cam[:, 2:] * np.diag(s.cam_K)[:2] + s.cam_K[:2, 2]
    x0, y0, x1, y1 = s.bbox
    assert np.all((proj >= [x0 - 1e-3, y0 - 1e-3]) & (proj <= [x1 + 1e-3, y1 + 1e-3]))
    assert 0.6 * 96 < max(x1 - x0, y1 - y0) <= 96  # the body fills most of the frame
    # The box's up axis (+Y) points up in the image: pitch/roll and elevation are small.
    assert (rot @ np.array([0.0, 1.0, 0.0]))[1] < -0.5
    assert set(np.unique(s.keypoints2d[:, 2])) <= {0.0, 1.0} and 0 < s.keypoints2d[:, 2].sum() < 17
    # Visible keypoints are cube corners facing the camera: their depth is the smaller one on the silhouette.
    assert s.keypoints2d[:, 2].sum() >= 17 * 3 / 8  # at least three corners of a box are always visible


def test_render_sample_is_deterministic_per_seed_and_index():
    v, faces, reg = _human()
    a = render_sample(v, faces, reg, sample_rng(0, 5), 64)
    b = render_sample(v, faces, reg, sample_rng(0, 5), 64)
    c = render_sample(v, faces, reg, sample_rng(0, 6), 64)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.keypoints2d, b.keypoints2d)
    assert not np.array_equal(a.image, c.image)


def test_top_vertices_ignore_zero_weights():
    reg = np.array([[0.0, 0.7, 0.0, 0.3, 0.0], [1.0, 0.0, 0.0, 0.0, 0.0]], np.float32)
    top = top_vertices(reg, k=3)
    np.testing.assert_array_equal(top, [[1, 3, 1], [0, 0, 0]])


@pytest.fixture(scope="module")
def anny_body():
    from vqhps.body.anny_body import AnnyBody
    from vqhps.body.joint_regressor import h36m_regressor

    body = AnnyBody("notoes_collapse10pc")
    return body, h36m_regressor(body)  # cached beside Anny's cache after the first fit


def test_rendered_anny_bodies_have_plausible_labels(anny_body):
    import torch

    body, reg = anny_body
    verts = body.vertices(body.sample_parameters(6, torch.Generator().manual_seed(0))).numpy()
    # The rasteriser and the ray caster draw the same body.
    mesh = mesh_for(body.faces, verts[0])
    R, t = look_at(np.array([0.3, 0.2, 3.0]), np.zeros(3))
    cam = Camera(intrinsics(45.0, 96, 96), R, t, 96, 96)
    bg = np.zeros((96, 96, 3), np.float32)
    ray, raster = mesh.render(cam, bg, np.ones(3), -R[2]), rasterize(mesh, cam, bg, np.ones(3), -R[2])
    assert (ray.mask & raster.mask).sum() / (ray.mask | raster.mask).sum() > 0.995
    upright = 0
    for i, v in enumerate(verts):
        s = render_sample(v, body.faces, reg, sample_rng(0, i), 128, return_verts=True)
        proj = s.verts_cam[:, :2] / s.verts_cam[:, 2:] * np.diag(s.cam_K)[:2] + s.cam_K[:2, 2]
        x0, y0, x1, y1 = s.bbox
        assert np.all((proj >= [x0 - 1e-3, y0 - 1e-3]) & (proj <= [x1 + 1e-3, y1 + 1e-3]))
        kp = s.keypoints2d
        assert np.all((kp[:, :2] >= [x0 - 1, y0 - 1]) & (kp[:, :2] <= [x1 + 1, y1 + 1]))
        assert kp[:, 2].sum() >= 6  # most joints of a body seen from outside are visible
        # the body's pixels differ from the background only inside the bbox
        outside = np.ones((128, 128), bool)
        outside[int(y0) : int(np.ceil(y1)), int(x0) : int(np.ceil(x1))] = False
        assert np.all(s.image[outside].std(axis=0) < 40)
        upright += kp[10, 1] < min(kp[3, 1], kp[6, 1])  # head top above both ankles in the image
    assert upright >= 4


def test_render_many_matches_single_samples_in_order():
    v, faces, reg = _human()
    meshes = np.stack([v, v * 1.1, v * 0.9])
    out = list(render_many(meshes, faces, reg, seed=4, indices=[7, 8, 9], image_size=48, workers=1))
    for k, s in enumerate(out):
        ref = render_sample(meshes[k], faces, reg, sample_rng(4, 7 + k), 48)
        np.testing.assert_array_equal(s.image, ref.image)
    with pytest.raises(ValueError, match="indices"):
        list(render_many(meshes, faces, reg, seed=4, indices=[1], image_size=48))


@pytest.mark.slow
def test_render_many_with_processes_matches_one_process():
    v, faces, reg = _human()
    meshes = np.stack([v * s for s in np.linspace(0.8, 1.2, 10)]).astype(np.float32)
    one = list(render_many(meshes, faces, reg, seed=1, indices=range(10), image_size=32, workers=1))
    two = list(render_many(meshes, faces, reg, seed=1, indices=range(10), image_size=32, workers=2))
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.keypoints2d, b.keypoints2d)


def test_random_orbit_camera_frames_the_points():
    pts = np.random.default_rng(0).normal(size=(500, 3)) * [0.2, 0.8, 0.15]
    for seed in range(5):
        cam = random_orbit_camera(pts, np.random.default_rng(seed), 128)
        uv, z = cam.project(pts)
        assert np.all(z > 0)
        assert np.all((uv >= 0) & (uv <= 128))
        assert np.abs(uv - 64).max() > 0.6 * 64  # not a tiny figure in the middle


def test_image_encoding_round_trips():
    img = np.random.default_rng(0).integers(0, 256, size=(16, 20, 3), dtype=np.uint8)
    np.testing.assert_array_equal(decode_image(encode_image(img, "png")), img)
    smooth = np.tile(np.linspace(0, 255, 20, dtype=np.uint8)[None, :, None], (16, 1, 3))
    jpeg = decode_image(encode_image(smooth, "jpeg", quality=95))
    assert jpeg.shape == smooth.shape and np.abs(jpeg.astype(int) - smooth).mean() < 3
    with pytest.raises(ValueError, match="jpeg"):
        encode_image(img, "bmp")


def test_anny_garments_are_left_right_symmetric_and_all_worn(anny_body):
    from vqhps.data.augment import vertex_mirror_permutation
    from vqhps.render.garments import GARMENTS, HAIR, SKIN, anny_garment_labels

    body, reg = anny_body
    labels = anny_garment_labels(body)
    assert labels.shape == (body.n_vertices,)
    # a flipped crop shows the mirrored body in the same clothes: labels are mirror-symmetric
    assert (labels[vertex_mirror_permutation(body.template, tolerance=5e-3)] == labels).mean() > 0.98
    shares = np.bincount(labels, minlength=len(GARMENTS)) / len(labels)
    assert shares.min() > 0.01, dict(zip(GARMENTS, shares.round(3), strict=True))
    # the face is on the +Z (front) side of the head, the hair behind it
    head_z = body.template[labels == HAIR, 2].mean()
    face = (labels == SKIN) & (body.template[:, 1] > body.template[labels == HAIR, 1].min())
    assert body.template[face, 2].mean() > head_z
    # dressed renders: deterministic per (seed, index) and differently coloured from the uniform figure
    v = body.template
    a = render_sample(v, body.faces, reg, sample_rng(3, 1), 96, garments=labels)
    b = render_sample(v, body.faces, reg, sample_rng(3, 1), 96, garments=labels)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.keypoints2d, b.keypoints2d)
