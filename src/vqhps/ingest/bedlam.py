"""BEDLAM/CLIFF real-image label reader (coco, mpii, h36m_train, mpi_inf_3dhp_train ``*.npz``)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vqhps.body.smpl import check_gender
from vqhps.ingest.records import FrameRecords
from vqhps.io.errors import DataFileError, MissingFieldError, check_shape
from vqhps.io.safe_pickle import load_npz

__all__ = ["LABEL_SETS", "read_label_file"]

LABEL_SETS = ("coco", "mpii", "h36m_train", "mpi_inf_3dhp_train")


def _rows(value: np.ndarray, n: int) -> np.ndarray:
    """``value`` as (n, -1) when it holds n rows of any shape (e.g. pose (N, 24, 3) -> (N, 72))."""
    value = np.asarray(value)
    return value.reshape(n, -1) if value.ndim >= 2 and len(value) == n else value


def read_label_file(path: str | os.PathLike, dataset: str | None = None) -> FrameRecords:
    """Read one label npz into :class:`FrameRecords`.

    Keys: ``imgname`` (N,), ``center`` (N, 2), ``scale`` (N,) = box side / 200, ``pose_cam`` or ``pose``
    (N, 72, camera frame; ``pose_cam`` preferred), ``shape`` (N, >=10), ``part`` (N, 24, 3) SPIN-J24 with
    confidence, optional ``gender``. Without ``gender`` the neutral model is used (reference §3.3).

    Raises:
        MissingFieldError: a required key is missing (names the file and the keys present).
        DataFileError: a field's shape disagrees with the N rows of ``imgname`` (names file and field).
    """
    path = Path(path)
    data = load_npz(path)
    pose_key = "pose_cam" if "pose_cam" in data else "pose"
    missing = [k for k in ("imgname", "center", "scale", pose_key, "shape", "part") if k not in data]
    if missing:
        raise MissingFieldError(
            path, "keys", "imgname, center, scale, pose_cam|pose, shape, part", f"no {missing}"
        )
    n = len(check_shape(path, "imgname", data["imgname"], (None,), "one image name per row"))
    pose = check_shape(path, pose_key, _rows(data[pose_key], n), (n, 72), "SMPL axis-angle per row")
    pose = pose.astype(np.float32)
    betas = check_shape(path, "shape", data["shape"], (n, None), "betas per row")
    if betas.shape[1] < 10:
        raise DataFileError(path, "shape", "at least 10 betas per row", f"{betas.shape[1]}")
    part = check_shape(path, "part", data["part"], (n, 24, 3), "SPIN J24 u, v, confidence")
    if "gender" in data:
        labels = check_shape(path, "gender", data["gender"], (n,), "one label per row")
        gender = np.array([check_gender(path, "gender", g) for g in labels])
    else:
        gender = np.array(["neutral"] * n)
    imgname = np.array([g.decode() if isinstance(g, bytes) else str(g) for g in data["imgname"]])
    return FrameRecords(
        dataset=dataset or path.stem,
        imgname=imgname,
        center=check_shape(path, "center", _rows(data["center"], n), (n, 2), "box centre px").astype(
            np.float32
        ),
        scale=check_shape(path, "scale", np.reshape(data["scale"], -1), (n,), "box side / 200").astype(
            np.float32
        ),
        gender=gender,
        betas=betas.astype(np.float32)[:, :10],
        root_orient=pose[:, :3],
        pose_body=pose[:, 3:66],
        pose_hands=pose[:, 66:72],
        keypoints_2d=part.astype(np.float32),
        sequence=np.array([""] * n),
        frame=np.full(n, -1, dtype=np.int64),
        person=np.zeros(n, dtype=np.int64),
    )
