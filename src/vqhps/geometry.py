"""Pure rotation, alignment and joint-regression geometry on torch tensors (no I/O, no global state).

Conventions: rotation matrices act on column vectors, ``x' = R @ x``; point sets are
``(..., N, 3)`` row vectors, so a rotation is applied as ``points @ R.transpose(-1, -2)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    import numpy as np


def axis_angle_to_matrix(axis_angle: Tensor) -> Tensor:
    """Rodrigues' formula.

    Args:
        axis_angle: (..., 3) rotation vectors, radians (angle = norm, axis = direction).

    Returns:
        (..., 3, 3) rotation matrices, same dtype.
    """
    angle = axis_angle.norm(dim=-1, keepdim=True)  # (..., 1)
    # Small angles: use the Taylor expansion of sin(t)/t and (1-cos t)/t^2 to stay exact at t=0.
    small = angle < 1e-6
    safe = torch.where(small, torch.ones_like(angle), angle)
    a = torch.where(small, 1.0 - angle**2 / 6.0, torch.sin(safe) / safe)
    b = torch.where(small, 0.5 - angle**2 / 24.0, (1.0 - torch.cos(safe)) / safe**2)
    k = skew(axis_angle)
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device).expand_as(k)
    return eye + a[..., None] * k + b[..., None] * (k @ k)


def matrix_to_axis_angle(rotation: Tensor) -> Tensor:
    """Inverse of :func:`axis_angle_to_matrix` (angles in [0, pi]).

    Args:
        rotation: (..., 3, 3) rotation matrices.

    Returns:
        (..., 3) rotation vectors, radians.
    """
    quat = matrix_to_quaternion(rotation)  # (..., 4) w, x, y, z with w >= 0
    xyz = quat[..., 1:]
    sin_half = xyz.norm(dim=-1, keepdim=True)
    half = torch.atan2(sin_half, quat[..., :1])
    small = sin_half < 1e-8
    scale = torch.where(small, 2.0 / quat[..., :1].clamp_min(1e-8), 2.0 * half / sin_half.clamp_min(1e-12))
    return xyz * scale


def matrix_to_quaternion(rotation: Tensor) -> Tensor:
    """Rotation matrices (..., 3, 3) -> unit quaternions (..., 4) as (w, x, y, z), w >= 0."""
    m = rotation
    trace = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    # Four candidate formulas; pick the numerically largest denominator per element (Shepperd's method).
    cands = torch.stack(
        [
            torch.stack(
                [
                    1 + trace,
                    m[..., 2, 1] - m[..., 1, 2],
                    m[..., 0, 2] - m[..., 2, 0],
                    m[..., 1, 0] - m[..., 0, 1],
                ],
                -1,
            ),
            torch.stack(
                [
                    m[..., 2, 1] - m[..., 1, 2],
                    1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
                    m[..., 1, 0] + m[..., 0, 1],
                    m[..., 0, 2] + m[..., 2, 0],
                ],
                -1,
            ),
            torch.stack(
                [
                    m[..., 0, 2] - m[..., 2, 0],
                    m[..., 1, 0] + m[..., 0, 1],
                    1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2],
                    m[..., 2, 1] + m[..., 1, 2],
                ],
                -1,
            ),
            torch.stack(
                [
                    m[..., 1, 0] - m[..., 0, 1],
                    m[..., 0, 2] + m[..., 2, 0],
                    m[..., 2, 1] + m[..., 1, 2],
                    1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2],
                ],
                -1,
            ),
        ],
        dim=-2,
    )  # (..., 4 candidates, 4)
    diag = torch.stack(
        [
            1 + trace,
            1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
            1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2],
            1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2],
        ],
        -1,
    )
    best = diag.argmax(dim=-1)
    quat = torch.gather(cands, -2, best[..., None, None].expand(*best.shape, 1, 4)).squeeze(-2)
    quat = quat / quat.norm(dim=-1, keepdim=True)
    return torch.where(quat[..., :1] < 0, -quat, quat)


def project_to_rotation(matrix: Tensor) -> Tensor:
    """Nearest rotation (Frobenius norm) of each 3x3 matrix: ``U diag(1, 1, ±1) V^T`` from its SVD, the
    last sign that of ``det(U V^T)`` (the reflection case), so the result is a proper rotation.

    Args:
        matrix: (..., 3, 3) float matrices (not necessarily orthogonal).

    Returns:
        (..., 3, 3) proper rotations (orthonormal, determinant +1).
    """
    u, _, vh = torch.linalg.svd(matrix)
    ones = torch.ones(matrix.shape[:-1], dtype=matrix.dtype, device=matrix.device)  # (..., 3)
    ones[..., 2] = torch.where(torch.linalg.det(u @ vh) < 0, -1.0, 1.0).to(matrix.dtype)
    return u @ torch.diag_embed(ones) @ vh


def rot6d_to_matrix(rot6d: Tensor) -> Tensor:
    """6D rotation representation (Zhou et al. 2019) -> rotation matrix by Gram-Schmidt.

    Args:
        rot6d: (..., 6), the first two *columns* of the matrix, concatenated.

    Returns:
        (..., 3, 3) rotation matrices.
    """
    a1, a2 = rot6d[..., :3], rot6d[..., 3:]
    b1 = torch.nn.functional.normalize(a1, dim=-1)
    b2 = torch.nn.functional.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def matrix_to_rot6d(rotation: Tensor) -> Tensor:
    """Rotation matrix (..., 3, 3) -> 6D representation (..., 6): first two columns."""
    return torch.cat([rotation[..., :, 0], rotation[..., :, 1]], dim=-1)


def skew(v: Tensor) -> Tensor:
    """Cross-product matrices: (..., 3) -> (..., 3, 3) with ``skew(v) @ x == v x x``."""
    zero = torch.zeros_like(v[..., 0])
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    return torch.stack(
        [torch.stack([zero, -z, y], -1), torch.stack([z, zero, -x], -1), torch.stack([-y, x, zero], -1)], -2
    )


def rotate_points(points: Tensor, rotation: Tensor) -> Tensor:
    """Apply rotations to point sets.

    Args:
        points: (B, N, 3).
        rotation: (B, 3, 3).

    Returns:
        (B, N, 3) rotated points ``R @ p`` for each point.
    """
    return points @ rotation.transpose(-1, -2)


def random_rotations(n: int, generator: torch.Generator | None = None, dtype=torch.float32) -> Tensor:
    """Uniformly distributed rotations (Haar measure) from normalised Gaussian quaternions: (n, 3, 3)."""
    q = torch.randn(n, 4, generator=generator, dtype=torch.float64)
    q = q / q.norm(dim=-1, keepdim=True)
    return quaternion_to_matrix(q).to(dtype)


def quaternion_to_matrix(quat: Tensor) -> Tensor:
    """Unit quaternions (..., 4) as (w, x, y, z) -> rotation matrices (..., 3, 3)."""
    w, x, y, z = quat.unbind(-1)
    return torch.stack(
        [
            torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
            torch.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
            torch.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
        ],
        -2,
    )


def regress_joints(verts: Tensor, regressor: Tensor | np.ndarray) -> Tensor:
    """Joints from vertices with a linear regressor: verts (..., V, 3), regressor (J, V) -> (..., J, 3).

    Same units as ``verts``; a numpy or tensor ``regressor`` is cast to the dtype and device of ``verts``.
    """
    return torch.einsum("jv,...vc->...jc", torch.as_tensor(regressor).to(verts), verts)
