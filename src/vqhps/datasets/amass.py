"""AMASS / BEDLAM-animation motion reader (SMPL+H ``*.npz``: poses (N,156), betas (16,), gender)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vqhps.body.smpl import check_gender
from vqhps.io.errors import DataFileError, MissingFieldError, check_shape
from vqhps.io.safe_pickle import load_npz

__all__ = ["Motion", "motion_files", "load_motion", "sample_frames"]


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


def sample_frames(files: list[Path], frames_per_file: int = 1, seed: int = 0) -> dict[str, np.ndarray]:
    """Uniformly random frames from each motion file (Mesh-VQ-VAE: one random frame per file per epoch).

    Returns:
        dict with ``betas`` (M, 16) float32, ``pose_body`` (M, 63) float32, ``gender`` (M,) str,
        ``source`` (M,) str file path, ``frame`` (M,) int64; M = len(files) * frames_per_file.
        Root orientation is dropped: the meshes are canonical (reference §1.4).
    """
    rng = np.random.default_rng(seed)
    betas, poses, genders, sources, frames = [], [], [], [], []
    for f in files:
        m = load_motion(f)
        picks = rng.integers(0, len(m.poses), frames_per_file)
        betas.append(np.repeat(m.betas[None], frames_per_file, axis=0))
        poses.append(m.poses[picks, 3:66])
        genders += [m.gender] * frames_per_file
        sources += [str(f)] * frames_per_file
        frames.append(picks)
    if not files:
        raise FileNotFoundError("no motion files given")
    return {
        "betas": np.concatenate(betas),
        "pose_body": np.concatenate(poses),
        "gender": np.array(genders),
        "source": np.array(sources),
        "frame": np.concatenate(frames).astype(np.int64),
    }
