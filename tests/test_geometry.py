"""Rotation conversions: round trips, orthonormality, known answers, uniformity of random rotations."""

from __future__ import annotations

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vqhps.geometry import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    matrix_to_rot6d,
    project_to_rotation,
    random_rotations,
    rot6d_to_matrix,
    rotate_points,
)

vec3 = st.lists(st.floats(-3.0, 3.0, allow_nan=False), min_size=3, max_size=3)


def test_known_rotation_about_z():
    r = axis_angle_to_matrix(torch.tensor([0.0, 0.0, math.pi / 2], dtype=torch.float64))
    x = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    assert torch.allclose(r @ x, torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64), atol=1e-12)


def test_zero_axis_angle_is_identity():
    assert torch.equal(axis_angle_to_matrix(torch.zeros(2, 3)), torch.eye(3).expand(2, 3, 3))


@settings(max_examples=50, deadline=None)
@given(vec3)
def test_axis_angle_round_trip(v):
    aa = torch.tensor(v, dtype=torch.float64)
    if aa.norm() > math.pi - 1e-3:  # the inverse returns angles in [0, pi]
        aa = aa / aa.norm() * (math.pi - 1e-3)
    r = axis_angle_to_matrix(aa)
    assert torch.allclose(r @ r.T, torch.eye(3, dtype=torch.float64), atol=1e-10)
    assert torch.allclose(axis_angle_to_matrix(matrix_to_axis_angle(r)), r, atol=1e-8)


def test_rot6d_round_trip_and_gram_schmidt():
    r = random_rotations(16, torch.Generator().manual_seed(0), dtype=torch.float64)
    assert torch.allclose(rot6d_to_matrix(matrix_to_rot6d(r)), r, atol=1e-10)
    noisy = rot6d_to_matrix(torch.randn(8, 6, dtype=torch.float64))
    assert torch.allclose(
        noisy @ noisy.transpose(1, 2), torch.eye(3, dtype=torch.float64).expand(8, 3, 3), atol=1e-10
    )
    assert torch.allclose(torch.linalg.det(noisy), torch.ones(8, dtype=torch.float64))


def test_random_rotations_are_proper_and_spread():
    r = random_rotations(4000, torch.Generator().manual_seed(1), dtype=torch.float64)
    assert torch.allclose(torch.linalg.det(r), torch.ones(4000, dtype=torch.float64), atol=1e-10)
    # Haar measure: E[R] = 0 entrywise.
    assert r.mean(0).abs().max() < 0.05


def test_rotate_points_matches_matrix_product():
    r = random_rotations(2, torch.Generator().manual_seed(2))
    p = torch.randn(2, 5, 3)
    expected = torch.einsum("bij,bnj->bni", r, p)
    assert torch.allclose(rotate_points(p, r), expected, atol=1e-6)


def test_projection_onto_rotations_is_a_proper_nearest_rotation():
    gen = torch.Generator().manual_seed(0)
    rots = random_rotations(64, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(project_to_rotation(rots), rots)  # rotations stay where they are
    noisy = rots + 0.2 * torch.randn(64, 3, 3, generator=gen, dtype=torch.float64)
    proj = project_to_rotation(noisy)
    eye = torch.eye(3, dtype=torch.float64).expand(64, 3, 3)
    torch.testing.assert_close(proj @ proj.transpose(1, 2), eye)
    torch.testing.assert_close(torch.linalg.det(proj), torch.ones(64, dtype=torch.float64))
    # nearest: no other rotation (here: the true one, or a small turn of the projection) is closer
    dist = (proj - noisy).flatten(1).norm(dim=1)
    assert torch.all(dist <= (rots - noisy).flatten(1).norm(dim=1) + 1e-12)
    turn = axis_angle_to_matrix(torch.tensor([0.0, 0.05, 0.0], dtype=torch.float64))
    assert torch.all(dist <= (proj @ turn - noisy).flatten(1).norm(dim=1))
    # a reflection is sent to a rotation (det +1), not kept
    mirror = torch.diag(torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64))
    assert torch.linalg.det(project_to_rotation(mirror)) > 0
