"""Square person crops (SPIN convention: side = 200 * scale around a centre), their geometry and JPEGs."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

from vqhps.io.errors import DataFileError

__all__ = ["crop_boxes", "to_crop_pixels", "crop_intrinsics", "crop_image", "encode_jpeg", "crop_and_encode"]


def crop_boxes(center: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Square crop boxes from SPIN-style centre/scale labels.

    Args:
        center: (N, 2) box centre (u, v), pixels of the original image.
        scale: (N,) box side / 200 px.

    Returns:
        (N, 3) float64: top-left u, top-left v, side (pixels of the original image).
    """
    center = np.asarray(center, dtype=np.float64).reshape(-1, 2)
    side = 200.0 * np.asarray(scale, dtype=np.float64).reshape(-1)
    if np.any(~np.isfinite(side)) or np.any(side <= 0):
        raise ValueError(
            f"crop scale must be finite and > 0, got min {side.min() / 200 if len(side) else None}"
        )
    return np.concatenate([center - side[:, None] / 2, side[:, None]], axis=1)


def to_crop_pixels(points: np.ndarray, boxes: np.ndarray, crop_size: int) -> np.ndarray:
    """Map original-image pixel coordinates into the resized crop.

    Continuous coordinates (pixel centres at +0.5) map as ``u' = (u - x0) * crop_size / side``; this is the
    same mapping :func:`crop_image` uses when it resamples, so a keypoint stays on its image feature.

    Args:
        points: (N, K, 2+) pixel coordinates (extra columns, e.g. confidence, are passed through).
        boxes: (N, 3) from :func:`crop_boxes`.
        crop_size: output side, pixels.

    Returns:
        (N, K, 2+) float32 in crop pixels.
    """
    points = np.asarray(points, dtype=np.float64)
    factor = crop_size / boxes[:, 2]
    out = points.copy()
    out[..., 0] = (points[..., 0] - boxes[:, None, 0]) * factor[:, None]
    out[..., 1] = (points[..., 1] - boxes[:, None, 1]) * factor[:, None]
    return out.astype(np.float32)


def crop_intrinsics(K: np.ndarray, boxes: np.ndarray, crop_size: int) -> np.ndarray:
    """Intrinsics of the crop: the original (N, 3, 3) ``K`` followed by the crop's shift and zoom.

    Returns:
        (N, 3, 3) float32; projecting a camera-frame point with it gives its crop pixel coordinates.
    """
    factor = crop_size / boxes[:, 2]
    affine = np.zeros((len(boxes), 3, 3))
    affine[:, 0, 0] = affine[:, 1, 1] = factor
    affine[:, 0, 2] = -boxes[:, 0] * factor
    affine[:, 1, 2] = -boxes[:, 1] * factor
    affine[:, 2, 2] = 1.0
    return (affine @ np.asarray(K, dtype=np.float64)).astype(np.float32)


def crop_image(image: Image.Image, box: np.ndarray, crop_size: int) -> Image.Image:
    """Cut the square ``box`` (x0, y0, side) out of ``image`` and resize it to ``crop_size``.

    Parts of the box outside the image are black. Resizing goes through PIL's area-aware filter, so a large
    box shrunk to 224 px is antialiased (a plain bilinear sample would alias).
    """
    x0, y0, side = (float(v) for v in box)
    # Integer crop first (PIL pads outside the image with zeros), then a sub-pixel resize inside it.
    left, top = int(np.floor(x0)), int(np.floor(y0))
    right, bottom = int(np.ceil(x0 + side)), int(np.ceil(y0 + side))
    region = image.crop((left, top, max(right, left + 1), max(bottom, top + 1)))
    sub = (x0 - left, y0 - top, x0 - left + side, y0 - top + side)
    return region.resize((crop_size, crop_size), resample=Image.Resampling.BILINEAR, box=sub)


def encode_jpeg(image: Image.Image, quality: int) -> bytes:
    """JPEG bytes of an RGB image (4:2:0 subsampling, the library default)."""
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=int(quality))
    return buf.getvalue()


def crop_and_encode(task: tuple[str | os.PathLike, np.ndarray, int, int]) -> bytes:
    """Worker function: ``(image path, box (3,), crop_size, jpeg_quality)`` -> JPEG bytes of the crop.

    Raises:
        FileNotFoundError: the image does not exist (names the path).
        DataFileError: the image cannot be decoded (truncated or not an image; names the path).
    """
    path, box, crop_size, quality = task
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: image named by the labels is missing; re-run check_data")
    try:
        with Image.open(path) as img:
            box = _draft(img, np.asarray(box, dtype=np.float64), crop_size)
            rgb = img.convert("RGB")
    except (OSError, SyntaxError) as err:  # PIL: UnidentifiedImageError, "image file is truncated"
        raise DataFileError(path, "image", "a decodable JPEG/PNG", f"{type(err).__name__}: {err}") from None
    return encode_jpeg(crop_image(rgb, box, crop_size), quality)


def _draft(img: Image.Image, box: np.ndarray, crop_size: int) -> np.ndarray:
    """Let the JPEG decoder shrink by 2, 4 or 8 when the box is that much larger than the crop.

    DCT-domain scaling decodes several times faster than a full-size decode (a 1920 x 1080 frame whose
    person box is ~4x the crop side). The box keeps at least ``crop_size`` decoded pixels per side, so the
    resize still only shrinks. Pixel ``i`` of an image reduced ``k`` times covers original pixels
    ``[k i, k (i + 1))``, so continuous coordinates simply divide by ``k``.
    """
    if img.format != "JPEG" or box[2] < 2 * crop_size:
        return box
    width, height = img.size
    factor = crop_size / box[2]
    img.draft("RGB", (int(np.ceil(width * factor)), int(np.ceil(height * factor))))
    k = 2 ** round(np.log2(width / img.size[0]))
    return box / k
