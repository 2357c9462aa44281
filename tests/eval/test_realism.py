"""Edge-length distortion: zero for the template under a similarity, small for skinned bodies, large else."""

from __future__ import annotations

import numpy as np
import pytest

from vqhps.eval.realism import EdgeDistortion, mesh_edges


def _grid(n: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """A flat (n x n) vertex grid in metres (2 cm spacing) and its triangles."""
    x, y = np.meshgrid(np.arange(n) * 0.02, np.arange(n) * 0.02)
    verts = np.stack([x.ravel(), y.ravel(), np.zeros(n * n)], 1)
    faces = []
    for i in range(n - 1):
        for j in range(n - 1):
            a = i * n + j
            faces += [[a, a + 1, a + n], [a + 1, a + n + 1, a + n]]
    return verts, np.asarray(faces)


def _rotation(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def test_edges_are_unique_and_undirected():
    edges = mesh_edges(np.array([[0, 1, 2], [2, 1, 3]]))
    assert edges.tolist() == [[0, 1], [0, 2], [1, 2], [1, 3], [2, 3]]


def test_template_under_a_similarity_scores_zero():
    verts, faces = _grid()
    score = EdgeDistortion(verts, faces)
    moved = 1.7 * verts @ _rotation(0.9).T + np.array([0.3, -1.0, 2.0])
    assert score(moved)[0] == pytest.approx(0.0, abs=1e-9)


def test_articulated_mesh_is_near_zero_and_noise_or_a_blob_is_large():
    verts, faces = _grid()
    score = EdgeDistortion(verts, faces)
    bent = verts.copy()
    limb = bent[:, 0] > 0.11  # half the grid turned about a hinge line, as a bone turns its skin
    hinge = np.array([0.11, 0, 0])
    bent[limb] = (bent[limb] - hinge) @ _rotation(0.8).T + hinge
    noisy = verts + np.random.default_rng(0).normal(scale=0.01, size=verts.shape)  # 1 cm noise, 2 cm edges
    blob = verts * np.array([1.0, 0.3, 1.0])  # squashed: no longer the same body
    values = score(np.stack([bent, noisy, blob]))
    assert values[0] < 0.05, "a rigidly articulated mesh stretches only the edges across the hinge"
    assert values[1] > 0.3 and values[2] > 0.3
    assert values[1] > 5 * values[0] and values[2] > 5 * values[0]


def test_wrong_vertex_count_is_refused():
    verts, faces = _grid(4)
    with pytest.raises(ValueError, match="vertices"):
        EdgeDistortion(verts, faces)(np.zeros((2, 5, 3)))
