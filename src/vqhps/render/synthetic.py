"""Synthetic training images: a posed canonical mesh, randomly rotated, ray-cast from a random camera.

Every random choice of a sample comes from ``np.random.default_rng([seed, index])``, so a sample
depends only on the seed and its index, never on which worker rendered it or in what order.
"""

from __future__ import annotations

import contextlib
import io
import math
import multiprocessing as mp
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from vqhps.render.camera import Camera, CameraSampling, random_orbit_camera

#: Surface vertices per keypoint whose visibility decides the keypoint's (the highest regressor weights).
#: On 200 random renders, 12 agreed best (88.7 %) with "the camera-to-joint segment crosses the surface
#: at most once"; the test errs towards hidden (7.8 % of joints) more than towards visible (3.5 %).
N_VISIBILITY_VERTICES = 12
#: Surface points closer than this to the first ray hit count as visible, metres.
OCCLUSION_TOL_M = 5e-3


@dataclass(frozen=True)
class AppearanceSampling:
    """Ranges of the random appearance.

    Attributes:
        max_pitch_roll_deg: bound of the uniform pitch and roll of the global body rotation, degrees
            (the yaw is uniform over 360 degrees).
        albedo: range of each RGB channel of the body colour, in [0, 1].
        background_noise: amplitude of the low-frequency background noise, in [0, 1] units.
        light_jitter: std of the random offset of the light direction from the camera direction.
    """

    max_pitch_roll_deg: float = 15.0
    albedo: tuple[float, float] = (0.35, 0.95)
    background_noise: float = 0.25
    light_jitter: float = 0.35


@dataclass
class SyntheticSample:
    """One rendered training image and its labels.

    Attributes:
        image: (H, W, 3) uint8 RGB.
        global_rot_cam: (3, 3) float32 rotation of the canonical body in the camera frame
            (``cam_R @ global_rotation``; what the model predicts).
        cam_K: (3, 3) float32 intrinsics, pixels.
        cam_R: (3, 3) float32 world -> camera rotation (OpenCV axes: x right, y down, z forward).
        cam_t: (3,) float32 world -> camera translation, metres.
        keypoints2d: (17, 3) float32 ``[u px, v px, visible 0/1]`` of the regressed joints.
        bbox: (4,) float32 ``x0, y0, x1, y1`` pixels of the projected mesh, clipped to the image.
        verts_cam: optional (V, 3) float32 vertices in camera coordinates, metres.
    """

    image: np.ndarray
    global_rot_cam: np.ndarray
    cam_K: np.ndarray
    cam_R: np.ndarray
    cam_t: np.ndarray
    keypoints2d: np.ndarray
    bbox: np.ndarray
    verts_cam: np.ndarray | None = None


def sample_rng(seed: int, index: int) -> np.random.Generator:
    """The random generator of sample ``index`` under ``seed`` (independent of worker order)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(index)]))


def random_global_rotation(rng: np.random.Generator, max_pitch_roll_deg: float) -> np.ndarray:
    """(3, 3) float64 rotation: uniform yaw about +Y, then small pitch (about X) and roll (about Z)."""
    yaw = rng.uniform(0.0, 2.0 * math.pi)
    pitch, roll = np.radians(rng.uniform(-max_pitch_roll_deg, max_pitch_roll_deg, size=2))
    cy, sy, cp, sp, cr, sr = (
        math.cos(yaw),
        math.sin(yaw),
        math.cos(pitch),
        math.sin(pitch),
        math.cos(roll),
        math.sin(roll),
    )
    r_yaw = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
    r_pitch = np.array([[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]])
    r_roll = np.array([[cr, -sr, 0.0], [sr, cr, 0.0], [0.0, 0.0, 1.0]])
    return r_yaw @ r_pitch @ r_roll


def random_background(rng: np.random.Generator, size: int, noise: float) -> np.ndarray:
    """(size, size, 3) float32 in [0, 1]: a uniform colour plus bilinearly upsampled 4x4 noise."""
    from PIL import Image

    base = rng.uniform(0.0, 1.0, size=3)
    grid = np.clip(base + rng.uniform(-noise, noise, size=(4, 4, 3)), 0.0, 1.0)
    # PIL's bilinear resize of a uint8 4x4 image is ~50x cheaper than the same in numpy.
    small = Image.fromarray(np.round(grid * 255.0).astype(np.uint8))
    return np.asarray(small.resize((size, size), Image.BILINEAR), dtype=np.float32) * (1.0 / 255.0)


def top_vertices(regressor: np.ndarray, k: int = N_VISIBILITY_VERTICES) -> np.ndarray:
    """(J, k) int64 indices of the ``k`` largest weights of each regressor row (J, V), largest first.

    Rows with fewer than ``k`` positive weights repeat their largest one instead of naming
    zero-weight vertices (which say nothing about the joint).
    """
    k = min(k, regressor.shape[1])
    idx = np.argpartition(-regressor, k - 1, axis=1)[:, :k]
    idx = np.take_along_axis(idx, np.argsort(-np.take_along_axis(regressor, idx, 1), axis=1), 1)
    positive = np.take_along_axis(regressor, idx, 1) > 0
    return np.where(positive, idx, idx[:, :1])


def keypoint_visibility(mesh, cam: Camera, uv: np.ndarray, verts: np.ndarray, top: np.ndarray) -> np.ndarray:
    """(J,) bool: joint inside the image and at least one of its top surface vertices unoccluded.

    Args:
        mesh: a :class:`~vqhps.render.warp_raycast.WarpMesh` holding ``verts``.
        cam: the camera.
        uv: (J, 2) projected joints, pixels.
        verts: (V, 3) world vertices, metres.
        top: (J, k) vertex indices per joint (see :func:`top_vertices`).
    """
    candidates = verts[top.reshape(-1)]
    _, z = cam.project(candidates)
    seen = ~mesh.occluded(cam, candidates, tol=OCCLUSION_TOL_M) & (z > 0)
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < cam.width) & (uv[:, 1] >= 0) & (uv[:, 1] < cam.height)
    return seen.reshape(top.shape).any(axis=1) & inside


def render_sample(
    canonical_verts: np.ndarray,
    faces: np.ndarray,
    regressor: np.ndarray,
    rng: np.random.Generator,
    image_size: int,
    camera: CameraSampling | None = None,
    appearance: AppearanceSampling | None = None,
    return_verts: bool = False,
    garments: np.ndarray | None = None,
) -> SyntheticSample:
    """Rotate a canonical mesh about its centroid, frame it with a random camera and ray-cast it.

    Args:
        canonical_verts: (V, 3) float vertices in the canonical frame (+Y up, facing +Z), metres.
        faces: (F, 3) int triangles (pass the same array object every call: it keys the BVH cache).
        regressor: (17, V) float joint regressor with rows summing to one.
        rng: the sample's generator (see :func:`sample_rng`).
        image_size: square image side, pixels.
        camera, appearance: sampling ranges (defaults: the dataclasses' defaults).
        return_verts: also return the camera-frame vertices.
        garments: optional (V,) int garment code per vertex (:mod:`vqhps.render.garments`): the
            figure is dressed in a random palette per image instead of one uniform colour.
    """
    # Warp initialises lazily, in the worker that renders.
    from vqhps.render.rasterizer import rasterize
    from vqhps.render.warp_raycast import mesh_for

    camera = camera or CameraSampling()
    appearance = appearance or AppearanceSampling()
    verts = np.asarray(canonical_verts, np.float32)
    rot = random_global_rotation(rng, appearance.max_pitch_roll_deg)
    centroid = verts.mean(axis=0)
    world = (verts - centroid) @ rot.T.astype(np.float32) + centroid
    # Frame on a strided subset of vertices (framing is random anyway; the bbox uses all of them).
    cam = random_orbit_camera(world[:: max(1, len(world) // 2000)], rng, image_size, camera)
    background = random_background(rng, image_size, appearance.background_noise)
    if garments is None:
        albedo = rng.uniform(*appearance.albedo, size=3)
    else:
        from vqhps.render.garments import random_palette, vertex_albedo

        albedo = vertex_albedo(garments, random_palette(rng))
    light = -cam.R[2] + rng.normal(0.0, appearance.light_jitter, size=3)  # from the camera side
    light /= np.linalg.norm(light)

    uv_verts, _ = cam.project(world)
    x0, y0 = np.floor(uv_verts.min(axis=0)).astype(int) - 1
    x1, y1 = np.ceil(uv_verts.max(axis=0)).astype(int) + 1
    mesh = mesh_for(faces, world, build_points=verts)
    result = rasterize(mesh, cam, background, albedo, light, window=(x0, y0, x1, y1))

    sparse, top = _regressor_cache(regressor)
    joints = sparse_regress(sparse, world)
    uv, _ = cam.project(joints)
    visible = keypoint_visibility(mesh, cam, uv, world, top)
    bbox = np.concatenate([uv_verts.min(axis=0), uv_verts.max(axis=0)])
    bbox = np.clip(bbox, 0.0, [image_size, image_size, image_size, image_size])
    return SyntheticSample(
        image=np.round(np.clip(result.image, 0.0, 1.0) * 255.0).astype(np.uint8),
        global_rot_cam=(cam.R @ rot).astype(np.float32),
        cam_K=cam.K.astype(np.float32),
        cam_R=cam.R.astype(np.float32),
        cam_t=cam.t.astype(np.float32),
        keypoints2d=np.concatenate([uv, visible[:, None]], axis=1).astype(np.float32),
        bbox=bbox.astype(np.float32),
        verts_cam=cam.to_camera(world).astype(np.float32) if return_verts else None,
    )


def sparse_regress(sparse: tuple[np.ndarray, np.ndarray, np.ndarray], verts: np.ndarray) -> np.ndarray:
    """(J, 3) joints from (V, 3) vertices with a regressor in (rows, cols, weights) form.

    A gather plus ``bincount`` instead of a dense (J, V) matmul: ~50x fewer operations and no BLAS
    threads, which stall on an oversubscribed machine.
    """
    rows, cols, weights = sparse
    n_joints = int(rows.max()) + 1
    contrib = verts[cols] * weights[:, None]
    return np.stack([np.bincount(rows, contrib[:, d], minlength=n_joints) for d in range(3)], axis=1)


_REG_CACHE: tuple[np.ndarray, tuple, np.ndarray] | None = None


def _regressor_cache(regressor: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """Sparse form and top vertices of ``regressor``, recomputed only when a new array is passed."""
    global _REG_CACHE
    if _REG_CACHE is None or _REG_CACHE[0] is not regressor:
        reg = np.asarray(regressor, np.float64)
        rows, cols = np.nonzero(reg)
        _REG_CACHE = (regressor, (rows, cols, reg[rows, cols]), top_vertices(reg))
    return _REG_CACHE[1], _REG_CACHE[2]


def encode_image(image: np.ndarray, fmt: str = "jpeg", quality: int = 90) -> bytes:
    """Encode an (H, W, 3) uint8 image as ``"jpeg"`` or ``"png"`` bytes (read back by
    :func:`vqhps.data.image_dataset.decode_image`)."""
    from PIL import Image

    fmt = fmt.lower()
    if fmt not in ("jpeg", "jpg", "png"):
        raise ValueError(f"image format must be 'jpeg' or 'png', got {fmt!r}")
    buf = io.BytesIO()
    if fmt == "png":
        Image.fromarray(image).save(buf, format="PNG", compress_level=1)
    else:
        Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


# --- process pool -------------------------------------------------------------------------------

_THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@contextlib.contextmanager
def single_threaded_children() -> Iterator[None]:
    """Make processes started inside the block use one BLAS/OpenMP thread (restores the environment).

    Spawned children read these variables when they import numpy and torch; several threads per
    process on an oversubscribed machine spin on barriers and run many times slower.
    """
    saved = {k: os.environ.get(k) for k in _THREAD_ENV}
    os.environ.update({k: "1" for k in _THREAD_ENV})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


_WORKER: dict = {}


def _init_worker(faces: np.ndarray, regressor: np.ndarray, seed: int, image_size: int, kwargs: dict) -> None:
    import torch

    torch.set_num_threads(1)  # processes, not intra-op threads, scale on a shared 2-core box
    _WORKER.update(faces=faces, regressor=regressor, seed=seed, image_size=image_size, kwargs=kwargs)


def _render_one(task: tuple[int, np.ndarray]) -> SyntheticSample:
    index, verts = task
    w = _WORKER
    return render_sample(
        verts, w["faces"], w["regressor"], sample_rng(w["seed"], index), w["image_size"], **w["kwargs"]
    )


def render_many(
    canonical_verts: np.ndarray | Sequence[np.ndarray],
    faces: np.ndarray,
    regressor: np.ndarray,
    seed: int,
    indices: Sequence[int],
    image_size: int,
    workers: int = 1,
    **kwargs,
) -> Iterator[SyntheticSample]:
    """Render many meshes, in order, with ``workers`` processes (1 = in this process).

    Args:
        canonical_verts: (N, V, 3) canonical meshes, metres.
        faces: (F, 3) triangles.
        regressor: (17, V) joint regressor.
        seed: the data set's seed; sample ``indices[i]`` uses :func:`sample_rng` (seed, indices[i]).
        indices: (N,) global sample indices.
        image_size: square image side, pixels.
        workers: number of processes, each with one torch thread.
        **kwargs: passed to :func:`render_sample` (``camera``, ``appearance``, ``return_verts``).

    Yields:
        one :class:`SyntheticSample` per mesh, in input order.
    """
    if len(canonical_verts) != len(indices):
        raise ValueError(f"got {len(canonical_verts)} meshes but {len(indices)} indices")
    tasks = zip((int(i) for i in indices), canonical_verts, strict=True)
    bar = dict(total=len(indices), disable=not sys.stderr.isatty(), desc="render")
    if workers <= 1:
        _init_worker(faces, regressor, seed, image_size, kwargs)
        yield from tqdm(map(_render_one, tasks), **bar)
        return
    # spawn: Warp and torch are not fork-safe once initialised in the parent.
    ctx = mp.get_context("spawn")
    with ctx.Pool(
        workers, initializer=_init_worker, initargs=(faces, regressor, seed, image_size, kwargs)
    ) as pool:
        yield from tqdm(pool.imap(_render_one, tasks, chunksize=8), **bar)
