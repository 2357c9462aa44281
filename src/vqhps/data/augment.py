"""Image augmentation for VQ-HPS (numpy; the warp by OpenCV): crop, rotation, scale, flip, normalisation.

Conventions (all functions):
- Pixel coordinates are continuous, pixel (i, j) covers [j, j+1] x [i, i+1]; its centre is (j+0.5, i+0.5).
- Crop keypoints are normalised to [-1, 1]: ``u = 2 x / S - 1`` (x right, y down).
- The camera frame has the image axes: x right, y down, z forward (what ``x2d = s (X[:2] + t)`` implies).
- ``rot_deg > 0`` turns the image content counter-clockwise on screen, i.e. a rotation of the camera-frame
  body about the camera's z axis by ``R_z = [[c, s, 0], [-s, c, 0], [0, 0, 1]]`` (c, s of rot_deg).

Flip and tokens: a flipped image shows the mirrored body, whose canonical mesh is the original canonical
mesh reflected through the body's sagittal plane with left/right vertices swapped (``mirror_vertices``).
Its Mesh-VQ-VAE tokens are NOT the original tokens (no left/right symmetry in token space), so whoever
trains on flipped images must re-tokenise the mirrored canonical mesh (or disable flipping).
The partner of each vertex comes from `vertex_mirror_permutation(template)`.
"""

from __future__ import annotations

import cv2
import numpy as np

# One OpenCV thread: each DataLoader worker warps its own item, a pool per worker would only contend.
cv2.setNumThreads(1)
_CV2_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32), np.dtype(np.float64))

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

# H36M-17 rows of SPIN's J_regressor_h36m: 0 pelvis, 1 lhip, 2 lknee, 3 lankle, 4 rhip, 5 rknee, 6 rankle,
# 7 spine, 8 thorax, 9 neck/nose, 10 head, 11 lshoulder, 12 lelbow, 13 lwrist, 14 rshoulder, 15 relbow,
# 16 rwrist.
# (The left/right swap is symmetric, so this permutation holds whichever side rows 1-3 are.)
H36M17_FLIP_PERMUTATION = np.array([0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13])
# SMPL-24: 0 pelvis, 1/2 l/r hip, 3 spine1, 4/5 knees, 6 spine2, 7/8 ankles, 9 spine3, 10/11 feet, 12 neck,
# 13/14 collars, 15 head, 16/17 shoulders, 18/19 elbows, 20/21 wrists, 22/23 hands.
# (The original flipped SMPL-24 joints with SPIN's J24 permutation, a different skeleton; fixed here.)
SMPL24_FLIP_PERMUTATION = np.array(
    [0, 2, 1, 3, 5, 4, 6, 8, 7, 9, 11, 10, 12, 14, 13, 15, 17, 16, 19, 18, 21, 20, 23, 22]
)
FLIP_PERMUTATIONS = {"h36m17": H36M17_FLIP_PERMUTATION, "smpl24": SMPL24_FLIP_PERMUTATION}


def bbox_to_box(bbox_xyxy: np.ndarray, rescale: float = 1.2) -> tuple[np.ndarray, float]:
    """Square box around an xyxy bbox (pixels): centre (2,) and side ``rescale * max(w, h)`` in pixels."""
    x0, y0, x1, y1 = np.asarray(bbox_xyxy, dtype=np.float64)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"degenerate bbox {bbox_xyxy!r}: need x1 > x0 and y1 > y0 (xyxy pixels)")
    return np.array([(x0 + x1) / 2, (y0 + y1) / 2]), float(rescale * max(x1 - x0, y1 - y0))


def rotation_2d(rot_deg: float) -> np.ndarray:
    """(2, 2) matrix turning image points counter-clockwise on screen (y axis down) by ``rot_deg``."""
    a = np.deg2rad(rot_deg)
    return np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])


def rotation_about_camera_axis(rot_deg: float) -> np.ndarray:
    """(3, 3) camera-frame rotation about z matching ``rotation_2d`` on the x, y image axes."""
    out = np.eye(3)
    out[:2, :2] = rotation_2d(rot_deg)
    return out


def crop_affine(center: np.ndarray, box_size: float, size: int, rot_deg: float = 0.0) -> np.ndarray:
    """(2, 3) affine map from original-image pixels to crop pixels.

    ``p_crop = (size / box_size) * R(rot_deg) (p - center) + size / 2``: the box centre goes to the crop
    centre, a box of side ``box_size`` px fills the ``size`` x ``size`` crop, content turned by rot_deg.
    """
    linear = (size / box_size) * rotation_2d(rot_deg)
    offset = size / 2 - linear @ np.asarray(center, dtype=np.float64)
    return np.concatenate([linear, offset[:, None]], axis=1)


def warp_affine(image: np.ndarray, affine: np.ndarray, size: int) -> np.ndarray:
    """Bilinear warp into a ``size`` x ``size`` output (outside the source: black), by OpenCV.

    The same image as the pure-numpy :func:`~vqhps.data.warp_reference.reference_warp_affine` within one
    grey level (each output pixel blends its four source taps, taps outside the source count as black),
    many times faster (``benchmarks/bench_loader.py``). OpenCV runs single-threaded (set at import).

    Args:
        image: (H, W, C) uint8, uint16, float32 or float64 source.
        affine: (2, 3) source-pixel -> output-pixel map in continuous coordinates (as from ``crop_affine``).

    Returns:
        (size, size, C) array of the source dtype.
    """
    if image.dtype not in _CV2_DTYPES:
        raise ValueError(f"warp_affine takes uint8, uint16, float32 or float64 images, got {image.dtype}")
    out = cv2.warpAffine(
        image,
        _index_affine(affine),
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    return out.reshape(size, size, image.shape[2])


def _index_affine(affine: np.ndarray) -> np.ndarray:
    """The continuous-coordinate map as OpenCV's index map (pixel centres at integers, not at +0.5).

    ``q_out + 0.5 = L (q_src + 0.5) + t``, so ``q_out = L q_src + t + L (0.5, 0.5) - 0.5``.
    """
    m = np.array(affine, dtype=np.float64)
    m[:, 2] += 0.5 * m[:, :2].sum(axis=1) - 0.5
    return m


def transform_keypoints(keypoints: np.ndarray, affine: np.ndarray, size: int) -> np.ndarray:
    """Keypoints (J, 2|3) in source pixels -> (J, 2|3) in the [-1, 1] crop frame (confidence kept)."""
    kp = np.asarray(keypoints, dtype=np.float32).copy()  # a copy: never modify the caller's array
    crop = kp[:, :2] @ affine[:, :2].T + affine[:, 2]
    kp[:, :2] = 2.0 * crop / size - 1.0
    return kp


def flip_image(image: np.ndarray) -> np.ndarray:
    """Mirror an (H, W, C) image left-right (a contiguous copy)."""
    return np.ascontiguousarray(image[:, ::-1])


def flip_keypoints(keypoints: np.ndarray, permutation: np.ndarray) -> np.ndarray:
    """Mirror normalised keypoints (J, 2|3): negate u and swap left/right joints (``out[i] = kp[perm[i]]``).

    Returns a new array. (The original modified a view for 3DPW and returned the flipped copy into an
    unused variable, so its 3DPW 2D targets were never flipped; fixed here.)
    """
    kp = np.asarray(keypoints, dtype=np.float32)
    if len(permutation) != len(kp):
        raise ValueError(f"flip permutation has {len(permutation)} joints, keypoints have {len(kp)}")
    out = kp[np.asarray(permutation)].copy()
    out[:, 0] = -out[:, 0]
    return out


def mirror_matrix(axis: int = 0) -> np.ndarray:
    """(3, 3) reflection negating coordinate ``axis``."""
    out = np.eye(3)
    out[axis, axis] = -1.0
    return out


def flip_global_rotation(rotation: np.ndarray, lateral_axis: int = 0) -> np.ndarray:
    """Global rotation of the mirrored body: ``M_cam R M_body`` (a proper rotation again).

    With camera-frame mirror M_cam = diag(-1, 1, 1) and canonical-frame sagittal mirror M_body (negating the
    body's left/right axis ``lateral_axis``, x for SMPL and Anny): M_cam R X = (M_cam R M_body)(M_body X),
    i.e. the mirrored image shows the mirrored canonical mesh posed by this rotation.
    """
    return mirror_matrix(0) @ np.asarray(rotation, dtype=np.float64) @ mirror_matrix(lateral_axis)


def mirror_vertices(verts: np.ndarray, vertex_permutation: np.ndarray, lateral_axis: int = 0) -> np.ndarray:
    """Mirror a canonical mesh through its sagittal plane: ``out[i] = M_body verts[perm[i]]``.

    Args:
        verts: (..., V, 3) canonical vertices (metres).
        vertex_permutation: (V,) int, index of each vertex's left/right mirror partner (self for midline).
        lateral_axis: the body's left/right axis in the canonical frame.

    Returns:
        (..., V, 3) mirrored mesh, same topology; re-tokenise it for token targets of flipped images.
    """
    verts = np.asarray(verts)
    out = verts[..., np.asarray(vertex_permutation), :].copy()
    out[..., lateral_axis] = -out[..., lateral_axis]
    return out


def vertex_mirror_permutation(
    template: np.ndarray, lateral_axis: int = 0, tolerance: float = 1e-3, chunk: int = 2048
) -> np.ndarray:
    """Left/right partner of every vertex of a (near-)symmetric template: nearest vertex to its mirror image.

    Args:
        template: (V, 3) canonical rest mesh (metres), symmetric about the plane ``x[lateral_axis] = 0``.
        tolerance: largest accepted distance (metres) between a mirrored vertex and its partner.

    Returns:
        (V,) int64 permutation for ``mirror_vertices``. Raises ValueError if the template is not symmetric
        within ``tolerance`` or the matching is not one-to-one.
    """
    verts = np.asarray(template, dtype=np.float64)
    mirrored = verts * np.where(np.arange(3) == lateral_axis, -1.0, 1.0)
    partner = np.empty(len(verts), dtype=np.int64)
    worst = 0.0
    for start in range(0, len(verts), chunk):  # chunks keep the distance matrix small (V can be ~14k)
        d2 = ((mirrored[start : start + chunk, None, :] - verts[None, :, :]) ** 2).sum(-1)
        partner[start : start + chunk] = d2.argmin(1)
        worst = max(worst, float(np.sqrt(d2.min(1).max())))
    if worst > tolerance:
        raise ValueError(
            f"template is not left/right symmetric: a mirrored vertex is {worst:.4g} m from any vertex"
        )
    if len(np.unique(partner)) != len(verts):
        raise ValueError(
            "mirror matching is not one-to-one (duplicate vertices?); lower the tolerance or dedupe"
        )
    return partner


def normalize_image(image: np.ndarray) -> np.ndarray:
    """(S, S, 3) uint8 RGB -> (3, S, S) float32, ImageNet mean/std normalised: ``(x / 255 - mean) / std``.

    uint8 images go through a per-channel table of the same float32 expression (bit-identical, ~4x faster
    than computing it per pixel); other dtypes are computed directly.
    """
    image = np.asarray(image)
    if image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3:
        channels = np.ascontiguousarray(image.transpose(2, 0, 1))
        return np.stack([_NORMALIZE_TABLE[c].take(channels[c]) for c in range(3)])
    return _normalize_float(image)


def _normalize_float(image: np.ndarray) -> np.ndarray:
    x = np.asarray(image, dtype=np.float32) / 255.0
    return np.ascontiguousarray(((x - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1))


def _normalize_table() -> np.ndarray:
    """(3, 256) float32: row c, column v = the normalised value of grey level v in channel c."""
    levels = np.arange(256, dtype=np.uint8).reshape(1, 256, 1).repeat(3, axis=2)  # a 1 x 256 image
    return np.ascontiguousarray(_normalize_float(levels)[:, 0])


_NORMALIZE_TABLE = _normalize_table()


def sample_augmentation(
    rng: np.random.Generator,
    flip_prob: float = 0.5,
    rot_prob: float = 0.4,
    rot_std_deg: float = 30.0,
    rot_max_deg: float = 60.0,
    scale_std: float = 0.25,
    scale_range: tuple[float, float] = (0.75, 1.25),
) -> tuple[bool, float, float]:
    """Draw (flip, rot_deg, scale) with the original's distributions (reference §3.4).

    flip ~ Bernoulli(flip_prob); rotation clip(N(0, rot_std), +-rot_max) with probability rot_prob, else 0;
    box scale clip(N(1, scale_std), scale_range).
    """
    flip = bool(rng.random() < flip_prob)
    rot = (
        float(np.clip(rng.normal(0.0, rot_std_deg), -rot_max_deg, rot_max_deg))
        if rng.random() < rot_prob
        else 0.0
    )
    scale = float(np.clip(rng.normal(1.0, scale_std), *scale_range))
    return flip, rot, scale
