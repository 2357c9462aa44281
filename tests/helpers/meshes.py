"""Tiny test meshes made in code: an icosphere with a chosen number of subdivisions."""

from __future__ import annotations

import numpy as np


def icosphere(subdivisions: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit icosphere.

    Returns:
        verts (V, 3) float64 on the unit sphere and faces (F, 3) int64; V = 10 * 4**s + 2.
    """
    t = (1.0 + 5**0.5) / 2.0
    verts = [
        (-1, t, 0), (1, t, 0), (-1, -t, 0), (1, -t, 0), (0, -1, t), (0, 1, t),
        (0, -1, -t), (0, 1, -t), (t, 0, -1), (t, 0, 1), (-t, 0, -1), (-t, 0, 1),
    ]  # fmt: skip
    faces = [
        (0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11), (1, 5, 9), (5, 11, 4),
        (11, 10, 2), (10, 7, 6), (7, 1, 8), (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8),
        (3, 8, 9), (4, 9, 5), (2, 4, 11), (6, 2, 10), (8, 6, 7), (9, 8, 1),
    ]  # fmt: skip
    v = [np.asarray(p, dtype=np.float64) / np.linalg.norm(p) for p in verts]
    f = faces
    for _ in range(subdivisions):
        midpoint: dict[tuple[int, int], int] = {}

        def mid(a: int, b: int, midpoint: dict = midpoint) -> int:
            key = (min(a, b), max(a, b))
            if key not in midpoint:
                p = v[a] + v[b]
                v.append(p / np.linalg.norm(p))
                midpoint[key] = len(v) - 1
            return midpoint[key]

        new = []
        for a, b, c in f:
            ab, bc, ca = mid(a, b), mid(b, c), mid(c, a)
            new += [(a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca)]
        f = new
    return np.stack(v), np.asarray(f, dtype=np.int64)
