"""The pure-numpy bilinear warp that :func:`vqhps.data.augment.warp_affine` (OpenCV) replaced.

Kept as the reference its output is tested against (within one grey level) and as "today's code" in
``benchmarks/bench_loader.py``; nothing in the pipeline calls it.
"""

from __future__ import annotations

import numpy as np


def reference_warp_affine(image: np.ndarray, affine: np.ndarray, size: int) -> np.ndarray:
    """Bilinear warp into a ``size`` x ``size`` output (outside the source: black), in numpy.

    Args:
        image: (H, W, C) uint8 or float source.
        affine: (2, 3) source-pixel -> output-pixel map in continuous coordinates (pixel (i, j) covers
            [j, j+1] x [i, i+1], as from ``crop_affine``).

    Returns:
        (size, size, C) array of the source dtype.
    """
    inverse = np.linalg.inv(np.vstack([affine, [0.0, 0.0, 1.0]]))[:2]
    centres = np.arange(size) + 0.5
    gx, gy = np.meshgrid(centres, centres)
    src = inverse @ np.stack([gx.ravel(), gy.ravel(), np.ones(gx.size)])
    x, y = src[0] - 0.5, src[1] - 0.5  # continuous -> index coordinates
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    fx, fy = (x - x0)[:, None].astype(np.float32), (y - y0)[:, None].astype(np.float32)
    top = _gather(image, y0, x0) * (1 - fx) + _gather(image, y0, x0 + 1) * fx
    bottom = _gather(image, y0 + 1, x0) * (1 - fx) + _gather(image, y0 + 1, x0 + 1) * fx
    out = (top * (1 - fy) + bottom * fy).reshape(size, size, -1)
    if np.issubdtype(image.dtype, np.integer):
        return np.clip(np.rint(out), 0, 255).astype(image.dtype)
    return out.astype(image.dtype)


def _gather(image: np.ndarray, yi: np.ndarray, xi: np.ndarray) -> np.ndarray:
    """Pixels (N, C) float32 at integer indices, zero outside the image (no padded copy of the source)."""
    h, w = image.shape[:2]
    inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
    values = image[np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)].astype(np.float32)
    return values * inside[:, None]
