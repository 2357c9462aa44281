"""Tests of the synthetic figures' clothes: garment labels, palettes and per-vertex albedo rendering."""

from __future__ import annotations

import numpy as np
import pytest

from vqhps.io.shards import MeshTopology, read_template, write_template
from vqhps.render.camera import Camera, intrinsics, look_at
from vqhps.render.garments import (
    GARMENTS,
    HAIR,
    SHIRT,
    SHOES,
    SKIN,
    TROUSERS,
    garment_labels,
    random_palette,
    vertex_albedo,
)
from vqhps.render.rasterizer import rasterize
from vqhps.render.warp_raycast import WarpMesh


def test_bones_map_to_garments_and_the_head_splits_into_face_and_hair():
    # A head of 4 vertices (two in front of its centre, low and high; two behind), a torso, a shin, a foot.
    verts = np.array(
        [
            [0, 1.6, 0.1],
            [0, 1.75, 0.1],
            [0, 1.6, -0.1],
            [0, 1.7, -0.1],
            [0, 1.2, 0.0],
            [0, 0.4, 0],
            [0, 0, 0.1],
        ]
    )
    bones = ["head", "head", "head", "eye.L", "spine03", "lowerleg01.L", "foot.R"]
    labels = garment_labels(verts, bones)
    # head centre y = 1.6625, top 1.75: 1.75 is above the hair line, 1.6 in front is the face
    np.testing.assert_array_equal(labels, [SKIN, HAIR, HAIR, HAIR, SHIRT, TROUSERS, SHOES])


def test_labels_need_one_bone_per_vertex():
    with pytest.raises(ValueError, match="3 vertices but 2 bone names"):
        garment_labels(np.zeros((3, 3)), ["head", "head"])


def test_palettes_are_colours_and_vary_per_image():
    rng = np.random.default_rng(0)
    palettes = np.stack([random_palette(rng) for _ in range(200)])
    assert palettes.shape == (200, len(GARMENTS), 3)
    assert palettes.min() >= 0.0 and palettes.max() <= 1.0
    assert palettes.std(axis=0).min() > 0.02  # every garment's colour is random
    # hair is darker than skin on average: the face side and the back of the head differ
    assert palettes[:, HAIR].mean() < palettes[:, SKIN].mean() - 0.2


def test_template_keeps_the_vertex_parts(tmp_path):
    parts = np.array([SKIN, HAIR, SHIRT], np.int8)
    topo = MeshTopology(np.zeros((3, 3), np.float32), np.array([[0, 1, 2]]), "t", None, parts)
    write_template(tmp_path, topo)
    np.testing.assert_array_equal(read_template(tmp_path).vertex_parts, parts)
    with pytest.raises(ValueError, match="vertex_parts has shape"):
        write_template(tmp_path, MeshTopology(topo.vertices, topo.faces, "t", None, parts[:2]))
    write_template(tmp_path, MeshTopology(topo.vertices, topo.faces, "t"))
    assert read_template(tmp_path).vertex_parts is None


def _quad(z: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    v = np.array([[-1, -1, z], [1, -1, z], [1, 1, z], [-1, 1, z]], np.float32)
    return v, np.array([[0, 1, 2], [0, 2, 3]], np.int64)


def test_per_vertex_albedo_is_interpolated_and_a_uniform_one_is_unchanged():
    v, faces = _quad()
    mesh = WarpMesh(faces, v)
    mesh.set_points(v)
    R, t = look_at(np.array([0.0, 0.0, 3.0]), np.zeros(3))
    cam = Camera(intrinsics(60.0, 64, 64), R, t, 64, 64)
    bg = np.zeros((64, 64, 3), np.float32)
    light = -R[2]
    one = rasterize(mesh, cam, bg, np.array([0.9, 0.5, 0.3]), light)
    same = rasterize(mesh, cam, bg, np.tile([0.9, 0.5, 0.3], (4, 1)), light)
    np.testing.assert_allclose(same.image, one.image, atol=1e-6)
    # left vertices red, right vertices blue: the red channel falls from left to right across the quad
    colours = np.array([[1, 0, 0], [0, 0, 1], [0, 0, 1], [1, 0, 0]], np.float32)
    img = rasterize(mesh, cam, bg, colours, light).image
    row = img[32, one.mask[32]]
    assert row[0, 0] > 0.8 and row[-1, 0] < 0.2 and row[0, 2] < 0.2 and row[-1, 2] > 0.8
    assert np.all(np.diff(row[:, 0]) <= 1e-6)
    with pytest.raises(ValueError, match="albedo has shape"):
        rasterize(mesh, cam, bg, np.ones((3, 3)), light)


def test_vertex_albedo_looks_up_the_palette():
    palette = np.arange(15, dtype=np.float32).reshape(5, 3) / 15
    out = vertex_albedo(np.array([SHOES, SKIN]), palette)
    np.testing.assert_array_equal(out, palette[[SHOES, SKIN]])
