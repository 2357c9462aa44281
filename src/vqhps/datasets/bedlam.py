"""BEDLAM/CLIFF real-image label reader (coco, mpii, h36m_train, mpi_inf_3dhp_train ``*.npz``)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vqhps.body.smpl import normalize_gender
from vqhps.datasets.records import FrameRecords
from vqhps.io.safe_pickle import load_npz

__all__ = ["LABEL_SETS", "read_label_file"]

LABEL_SETS = ("coco", "mpii", "h36m_train", "mpi_inf_3dhp_train")


def read_label_file(path: str | os.PathLike, dataset: str | None = None) -> FrameRecords:
    """Read one label npz into :class:`FrameRecords`.

    Keys: ``imgname`` (N,), ``center`` (N, 2), ``scale`` (N,) = box side / 200, ``pose_cam`` or ``pose``
    (N, 72, camera frame; ``pose_cam`` preferred), ``shape`` (N, >=10), ``part`` (N, 24, 3) SPIN-J24 with
    confidence, optional ``gender``. Without ``gender`` the neutral model is used (reference §3.3).

    Raises:
        KeyError: a required key is missing (names the file and the keys present).
    """
    path = Path(path)
    data = load_npz(path)
    pose_key = "pose_cam" if "pose_cam" in data else "pose"
    missing = [k for k in ("imgname", "center", "scale", pose_key, "shape", "part") if k not in data]
    if missing:
        raise KeyError(f"{path}: label file lacks {missing}; keys present: {sorted(data)}")
    pose = np.asarray(data[pose_key], dtype=np.float32).reshape(len(data["imgname"]), -1)
    n = len(pose)
    if "gender" in data:
        gender = np.array([normalize_gender(g) for g in np.asarray(data["gender"]).reshape(-1)])
    else:
        gender = np.array(["neutral"] * n)
    imgname = np.array([g.decode() if isinstance(g, bytes) else str(g) for g in data["imgname"]])
    return FrameRecords(
        dataset=dataset or path.stem,
        imgname=imgname,
        center=np.asarray(data["center"], dtype=np.float32).reshape(n, 2),
        scale=np.asarray(data["scale"], dtype=np.float32).reshape(n),
        gender=gender,
        betas=np.asarray(data["shape"], dtype=np.float32)[:, :10],
        root_orient=pose[:, :3],
        pose_body=pose[:, 3:66],
        keypoints_2d=np.asarray(data["part"], dtype=np.float32).reshape(n, -1, 3),
        sequence=np.array([""] * n),
        frame=np.full(n, -1, dtype=np.int64),
        person=np.zeros(n, dtype=np.int64),
    )
