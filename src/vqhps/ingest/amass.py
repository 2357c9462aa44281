"""AMASS / BEDLAM-animation motion reader (SMPL+H ``*.npz``: poses (N,156), betas (16,), gender)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vqhps.body.smpl import check_gender
from vqhps.io.errors import DataFileError, MissingFieldError, check_shape
from vqhps.io.safe_pickle import load_npz

__all__ = ["Motion", "motion_files", "load_motion", "strided_frames"]


@dataclass(frozen=True)
class Motion:
    """One motion file.

    Attributes:
        path: the file.
        poses: (N, 156) float32 axis-angle: root [:3], body [3:66], hands [66:], radians.
        betas: (16,) float32 (or however many the file holds).
        gender: "male" / "female" / "neutral".
        trans: (N, 3) float32 metres, or None.
        framerate: frames per second, or None.
    """

    path: Path
    poses: np.ndarray
    betas: np.ndarray
    gender: str
    trans: np.ndarray | None
    framerate: float | None


def motion_files(root: str | os.PathLike, subsets: list[str] | None = None) -> list[Path]:
    """Sorted ``*.npz`` under ``root`` (or ``root/<subset>`` for each subset), skipping ``shape`` files.

    AMASS archives hold per-subject ``shape.npz`` files with betas but no poses; like Mesh-VQ-VAE, any path
    containing "shape" is skipped.
    """
    root = Path(root)
    bases = [root / s for s in subsets] if subsets else [root]
    files = [f for b in bases for f in b.rglob("*.npz") if "shape" not in str(f.relative_to(root))]
    return sorted(files)


def load_motion(path: str | os.PathLike) -> Motion:
    """Read one motion npz (no pickle: object members go through the restricted unpickler).

    ``gender`` may be a 0-d str or bytes array; ``mocap_framerate`` or ``mocap_frame_rate`` are accepted.

    Raises:
        MissingFieldError: no ``poses``/``betas``/``gender`` (e.g. an SMPL-X release or a shape file).
        DataFileError: poses are not (N, 156), trans not (N, 3), fewer than 10 betas, no frame, bad gender.
    """
    data = load_npz(path)
    missing = [k for k in ("poses", "betas", "gender") if k not in data]
    if missing:
        raise MissingFieldError(path, "keys", "poses, betas, gender (SMPL+H G)", f"no {missing}")
    poses = check_shape(path, "poses", data["poses"], (None, 156), "SMPL+H axis-angle").astype(np.float32)
    if len(poses) == 0:
        raise DataFileError(path, "poses", "at least one frame", "0 frames")
    betas = np.asarray(data["betas"], dtype=np.float32).reshape(-1)
    if betas.size < 10:
        raise DataFileError(path, "betas", "at least 10 shape values", f"shape {data['betas'].shape}")
    trans = None
    if "trans" in data:
        trans = check_shape(path, "trans", data["trans"], (len(poses), 3), "a row per pose").astype(
            np.float32
        )
    rate = data.get("mocap_framerate", data.get("mocap_frame_rate"))
    return Motion(
        path=Path(path),
        poses=poses,
        betas=betas,
        gender=check_gender(path, "gender", data["gender"]),
        trans=trans,
        framerate=float(rate) if rate is not None else None,
    )


def strided_frames(files: list[Path], frame_stride: int = 1) -> dict[str, np.ndarray]:
    """Every ``frame_stride``-th frame (0, k, 2k, ...) of each motion file, files in the given order.

    The reader samples file-then-frame over these (``vqhps.data.motion_sampler``), as Mesh-VQ-VAE draws a
    random frame of a random file at every access; ``frame_stride`` 1 keeps every frame it could draw.

    Returns:
        dict with ``betas`` (M, B) float32, ``pose_body`` (M, 63) float32, ``gender`` (M,) str,
        ``source`` (M,) str file path, ``file`` (M,) int64 index into ``files``, ``frame`` (M,) int64;
        M = sum over files of ceil(frames / frame_stride). Root orientation is dropped: the meshes are
        canonical (reference §1.4).
    """
    if frame_stride < 1:
        raise ValueError(f"frame_stride: must be >= 1, got {frame_stride}")
    if not files:
        raise FileNotFoundError("no motion files given")
    betas, poses, genders, sources, file_ids, frames = [], [], [], [], [], []
    for i, f in enumerate(files):
        m = load_motion(f)
        picks = np.arange(0, len(m.poses), frame_stride)
        betas.append(np.repeat(m.betas[None], len(picks), axis=0))
        poses.append(m.poses[picks, 3:66])
        genders += [m.gender] * len(picks)
        sources += [str(f)] * len(picks)
        file_ids.append(np.full(len(picks), i, dtype=np.int64))
        frames.append(picks)
    widest = max(b.shape[1] for b in betas)  # files may hold 10 or 16 betas: pad the short ones with zeros
    betas = [np.pad(b, ((0, 0), (0, widest - b.shape[1]))) for b in betas]
    return {
        "betas": np.concatenate(betas),
        "pose_body": np.concatenate(poses),
        "gender": np.array(genders),
        "source": np.array(sources),
        "file": np.concatenate(file_ids),
        "frame": np.concatenate(frames).astype(np.int64),
    }
