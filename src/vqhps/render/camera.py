"""Pinhole cameras in the OpenCV convention (x right, y down, z forward) and random framing.

A world point ``X`` maps to camera coordinates ``x_cam = R @ X + t`` and to pixels
``u = fx * x/z + cx``, ``v = fy * y/z + cy``. Pixel ``(i, j)`` covers ``[j, j+1) x [i, i+1)``,
so its centre is at ``(j + 0.5, i + 0.5)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Camera:
    """A perspective camera.

    Attributes:
        K: (3, 3) float64 intrinsics ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]``, pixels.
        R: (3, 3) float64 world -> camera rotation.
        t: (3,) float64 world -> camera translation, metres.
        width: image width, pixels.
        height: image height, pixels.
    """

    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    width: int
    height: int

    @property
    def center(self) -> np.ndarray:
        """(3,) camera centre in world coordinates, metres."""
        return -self.R.T @ self.t

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points (N, 3) -> camera coordinates (N, 3), metres."""
        return points @ self.R.T + self.t

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project world points.

        Args:
            points: (N, 3) world points, metres.

        Returns:
            uv: (N, 2) float64 pixel coordinates; depth: (N,) camera z, metres (<= 0 behind the camera).
        """
        cam = self.to_camera(np.asarray(points, dtype=np.float64))
        z = cam[:, 2]
        safe = np.where(np.abs(z) < 1e-9, 1e-9, z)
        uv = cam[:, :2] / safe[:, None] * np.array([self.K[0, 0], self.K[1, 1]]) + self.K[:2, 2]
        return uv, z


def intrinsics(fov_y_deg: float, width: int, height: int) -> np.ndarray:
    """(3, 3) intrinsics with square pixels, principal point at the image centre.

    Args:
        fov_y_deg: vertical field of view, degrees.
        width, height: image size, pixels.
    """
    f = 0.5 * height / math.tan(math.radians(fov_y_deg) / 2.0)
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


def look_at(
    eye: np.ndarray, target: np.ndarray, up: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """World -> camera extrinsics of a camera at ``eye`` looking at ``target`` (OpenCV axes).

    Args:
        eye, target: (3,) world points, metres.
        up: (3,) world up direction (default +Y); image "up" (-y_cam) follows it.

    Returns:
        R (3, 3) and t (3,) such that ``x_cam = R @ X + t``.
    """
    up = np.array([0.0, 1.0, 0.0]) if up is None else np.asarray(up, dtype=np.float64)
    forward = np.asarray(target, np.float64) - np.asarray(eye, np.float64)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, up)
    if np.linalg.norm(right) < 1e-8:  # looking straight along `up`: any right vector will do
        right = np.cross(forward, np.array([0.0, 0.0, 1.0]))
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    R = np.stack([right, down, forward])
    return R, -R @ np.asarray(eye, np.float64)


@dataclass(frozen=True)
class CameraSampling:
    """Ranges of the random orbit camera.

    Attributes:
        elevation_deg: camera elevation above the body centre's horizontal plane, degrees.
        fov_deg: vertical field of view, degrees.
        fill: fraction of the image's larger side covered by the projected body's bbox.
        target_jitter: std of the look-at point around the bbox centre, as a fraction of body height.
    """

    elevation_deg: tuple[float, float] = (-10.0, 35.0)
    fov_deg: tuple[float, float] = (35.0, 60.0)
    fill: tuple[float, float] = (0.75, 0.95)
    target_jitter: float = 0.03


def random_orbit_camera(
    points: np.ndarray, rng: np.random.Generator, image_size: int, cfg: CameraSampling | None = None
) -> Camera:
    """A camera orbiting the body, framed so the body's projection fills ``cfg.fill`` of the image.

    The azimuth is uniform over 360 degrees; the distance is refined three times because the
    perspective extent is not exactly inversely proportional to it.

    Args:
        points: (N, 3) world points of the body (+Y up), metres.
        rng: source of randomness (the only one used).
        image_size: square image side, pixels.
        cfg: sampling ranges (default: :class:`CameraSampling`'s defaults).
    """
    cfg = cfg or CameraSampling()
    lo, hi = points.min(axis=0), points.max(axis=0)
    height = float(max(hi[1] - lo[1], 1e-3))
    target = (lo + hi) / 2.0 + rng.normal(0.0, cfg.target_jitter * height, size=3)
    azimuth = rng.uniform(0.0, 2.0 * math.pi)
    elevation = math.radians(rng.uniform(*cfg.elevation_deg))
    fov = rng.uniform(*cfg.fov_deg)
    fill = rng.uniform(*cfg.fill)
    direction = np.array(
        [
            math.cos(elevation) * math.sin(azimuth),
            math.sin(elevation),
            math.cos(elevation) * math.cos(azimuth),
        ]
    )
    K = intrinsics(fov, image_size, image_size)
    radius = float(np.linalg.norm(hi - lo)) / 2.0
    distance = radius / math.tan(math.radians(fov) / 2.0) + radius
    for _ in range(3):
        R, t = look_at(target + distance * direction, target)
        cam = Camera(K, R, t, image_size, image_size)
        uv, z = cam.project(points)
        if np.any(z <= 0.05):  # too close: back off instead of trusting a degenerate projection
            distance *= 1.5
            continue
        # Half-extent of the projection around the image centre, as a fraction of the half-image.
        half = np.abs(uv - image_size / 2.0).max() / (image_size / 2.0)
        distance *= half / fill
    R, t = look_at(target + distance * direction, target)
    return Camera(K, R, t, image_size, image_size)
