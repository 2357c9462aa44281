"""Per-row cameras and world-frame SMPL fits of 3DPW and EMDB frames (crop intrinsics, 2D keypoints)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vqhps.ingest import emdb, threedpw
from vqhps.ingest.records import FrameRecords

__all__ = ["CameraLabels", "threedpw_cameras", "emdb_cameras"]


@dataclass
class CameraLabels:
    """Camera and world-frame fit of N person-frames, aligned row by row with a :class:`FrameRecords`.

    Attributes:
        K: (N, 3, 3) float64 intrinsics of the original image, pixels.
        R: (N, 3, 3) float64 world -> camera rotation.
        t: (N, 3) float64 world -> camera translation, metres.
        pose: (N, 72) float64 SMPL axis-angle in the world frame (root first), radians.
        trans: (N, 3) float64 SMPL translation in the world frame, metres.
    """

    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    pose: np.ndarray
    trans: np.ndarray

    def take(self, index: np.ndarray) -> CameraLabels:
        """Rows ``index`` as a new CameraLabels."""
        return CameraLabels(self.K[index], self.R[index], self.t[index], self.pose[index], self.trans[index])


def _stack(rows: list[tuple], n: int) -> CameraLabels:
    if len(rows) != n:
        raise ValueError(f"camera rows {len(rows)} do not match the {n} records")
    K, R, t, pose, trans = (np.stack([r[i] for r in rows]).astype(np.float64) for i in range(5))
    return CameraLabels(K=K, R=R, t=t, pose=pose, trans=trans)


def threedpw_cameras(root: str | os.PathLike, split: str, records: FrameRecords) -> CameraLabels:
    """Cameras of the rows of ``threedpw.read_split(root, split)``.

    Each row's frame index is the absolute frame of its sequence (the reader never shifts labels, §3.6), so
    ``cam_poses[frame]`` and ``poses[person][frame]`` belong to the same image.
    """
    cache: dict[str, dict] = {}
    rows = []
    for seq, frame, person in zip(records.sequence, records.frame, records.person, strict=True):
        if seq not in cache:
            cache[seq] = threedpw.load_sequence(Path(root) / "sequenceFiles" / split / f"{seq}.pkl")
        data = cache[seq]
        cam = np.asarray(data["cam_poses"], dtype=np.float64)[frame]
        if "trans" not in data:
            raise KeyError(f"3DPW sequence {seq} lacks 'trans'; keys present: {sorted(data)}")
        rows.append(
            (
                np.asarray(data["cam_intrinsics"], dtype=np.float64),
                cam[:3, :3],
                cam[:3, 3],
                np.asarray(data["poses"][person], dtype=np.float64)[frame, :72],
                np.asarray(data["trans"][person], dtype=np.float64)[frame],
            )
        )
    return _stack(rows, len(records))


def emdb_cameras(root: str | os.PathLike, records: FrameRecords) -> CameraLabels:
    """Cameras of the rows of ``emdb.read_subset(root, ...)`` (``sequence`` = ``P<k>/<sequence folder>``)."""
    cache: dict[str, dict] = {}
    rows = []
    for seq, frame in zip(records.sequence, records.frame, strict=True):
        if seq not in cache:
            found = sorted((Path(root) / seq).glob("*_data.pkl"))
            if not found:
                raise FileNotFoundError(f"{Path(root) / seq}: no *_data.pkl (EMDB sequence pickle)")
            cache[seq] = emdb.load_sequence(found[0])
        data = cache[seq]
        smpl, camera = data["smpl"], data["camera"]
        ext = np.asarray(camera["extrinsics"], dtype=np.float64)[frame]
        pose = np.concatenate(
            [
                np.asarray(smpl["poses_root"], np.float64)[frame],
                np.asarray(smpl["poses_body"], np.float64)[frame],
            ]
        )
        rows.append(
            (
                np.asarray(camera["intrinsics"], dtype=np.float64),
                ext[:3, :3],
                ext[:3, 3],
                pose[:72],
                np.asarray(smpl["trans"], dtype=np.float64)[frame],
            )
        )
    return _stack(rows, len(records))
