"""Per-frame ground-truth records shared by every real-data reader, and canonical-mesh conversion."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, fields

import numpy as np
import torch
from tqdm import tqdm

from vqhps.body.smpl import BodyModel, normalize_gender

__all__ = ["FrameRecords", "concat_records", "canonical_meshes", "root_to_camera"]


@dataclass
class FrameRecords:
    """N person-frames, column-wise.

    Attributes:
        dataset: source name ("3dpw", "emdb", "coco", ...).
        imgname: (N,) str, image path relative to the dataset root.
        center: (N, 2) float32, crop-box centre, pixels.
        scale: (N,) float32, crop-box side / 200 px (SPIN convention; never the inverted value §3.4 mentions).
        gender: (N,) str, "male" / "female" / "neutral".
        betas: (N, L) float32 shape coefficients (10 for 3DPW/EMDB/CLIFF labels).
        root_orient: (N, 3) float32 axis-angle, camera frame, radians.
        pose_body: (N, 63) float32 axis-angle of SMPL joints 1..21, radians (what the SMPL-H GT meshes use).
        pose_hands: (N, 6) float32 axis-angle of SMPL joints 22, 23 (wrist to hand), radians: the rest of
            the 72-d SMPL pose, which the ``standard`` and ``emdb`` protocols' GT keeps (:attr:`full_pose`).
        keypoints_2d: (N, K, 3) float32 (x, y, confidence), pixels; K and order depend on the dataset.
        sequence: (N,) str sequence name ("" when not a video dataset).
        frame: (N,) int64 frame index within the sequence (-1 when not a video dataset).
        person: (N,) int64 person index within the sequence.
    """

    dataset: str
    imgname: np.ndarray
    center: np.ndarray
    scale: np.ndarray
    gender: np.ndarray
    betas: np.ndarray
    root_orient: np.ndarray
    pose_body: np.ndarray
    pose_hands: np.ndarray
    keypoints_2d: np.ndarray
    sequence: np.ndarray
    frame: np.ndarray
    person: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.imgname)
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "dataset" and len(value) != n:
                raise ValueError(f"FrameRecords.{f.name} has {len(value)} rows, imgname has {n}")
        if (
            self.pose_body.shape[1:] != (63,)
            or self.pose_hands.shape[1:] != (6,)
            or self.root_orient.shape[1:] != (3,)
        ):
            raise ValueError(
                f"pose_body {self.pose_body.shape} (N, 63) / pose_hands {self.pose_hands.shape} (N, 6) / "
                f"root_orient {self.root_orient.shape} (N, 3)"
            )

    def __len__(self) -> int:
        return len(self.imgname)

    @property
    def full_pose(self) -> np.ndarray:
        """(N, 69) float32 axis-angle of SMPL joints 1..23: the 72-d SMPL pose without the root, radians."""
        return np.concatenate([self.pose_body, self.pose_hands], axis=1).astype(np.float32)

    def take(self, index: np.ndarray) -> FrameRecords:
        """Rows ``index`` (int array or bool mask) as a new FrameRecords."""
        kw = {f.name: getattr(self, f.name)[index] for f in fields(self) if f.name != "dataset"}
        return FrameRecords(dataset=self.dataset, **kw)

    def to_dict(self) -> dict[str, np.ndarray]:
        """Plain dict of arrays (e.g. for ``np.savez``)."""
        return {f.name: np.asarray(getattr(self, f.name)) for f in fields(self)}


def concat_records(parts: list[FrameRecords], dataset: str) -> FrameRecords:
    """Concatenate records (all with the same betas width and keypoint count)."""
    if not parts:
        raise ValueError(f"no frames to concatenate for {dataset}")
    kw = {
        f.name: np.concatenate([getattr(p, f.name) for p in parts])
        for f in fields(FrameRecords)
        if f.name != "dataset"
    }
    return FrameRecords(dataset=dataset, **kw)


def root_to_camera(cam_rotation: np.ndarray, root_orient_world: np.ndarray) -> np.ndarray:
    """Rotate a world-frame root orientation into the camera frame: ``R_cam = cam_R @ R_world``.

    Args:
        cam_rotation: (N, 3, 3) world-to-camera rotations.
        root_orient_world: (N, 3) axis-angle, radians.

    Returns:
        (N, 3) float32 axis-angle in the camera frame.
    """
    from vqhps.geometry import axis_angle_to_matrix, matrix_to_axis_angle

    r_world = axis_angle_to_matrix(torch.as_tensor(root_orient_world, dtype=torch.float64))
    r_cam = torch.as_tensor(cam_rotation, dtype=torch.float64) @ r_world
    return matrix_to_axis_angle(r_cam).numpy().astype(np.float32)


def canonical_meshes(
    betas: np.ndarray,
    pose_body: np.ndarray,
    gender: np.ndarray,
    models: dict[str, BodyModel],
    batch_size: int = 256,
    num_betas: int = 10,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Canonical (root = identity), centred SMPL-H meshes, flat hands, as Mesh-VQ-VAE consumes them (§1.4).

    Each gender uses its own model (fix of the original "non-m means female" bug, see
    :func:`vqhps.body.smpl.normalize_gender`).

    Args:
        betas: (N, L) shape coefficients; the first ``num_betas`` are used (the paper uses 10).
        pose_body: (N, 63) axis-angle of joints 1..21, radians.
        gender: (N,) labels accepted by ``normalize_gender``.
        models: body model per normalised gender ("male"/"female"/"neutral"); only genders present are needed.
        batch_size: frames per forward pass.
        num_betas: how many betas to use.

    Yields:
        (indices (b,) int64 into the inputs, vertices (b, V, 3) float32 metres, mean vertex at the origin).
    """
    labels = np.array([normalize_gender(g) for g in gender])
    missing = sorted(set(labels) - set(models))
    if missing:
        raise ValueError(f"no body model given for gender(s) {missing}; have {sorted(models)}")
    order = np.argsort(labels, kind="stable")
    total = len(order)
    with torch.no_grad(), tqdm(total=total, disable=not sys.stderr.isatty(), desc="meshes") as bar:
        for start in range(0, total, batch_size):
            idx = order[start : start + batch_size]
            for g in np.unique(labels[idx]):
                sub = idx[labels[idx] == g]
                b = torch.as_tensor(np.asarray(betas)[sub, :num_betas], dtype=torch.float32)
                p = torch.as_tensor(np.asarray(pose_body)[sub], dtype=torch.float32)
                verts = models[g].smplh_body(b, p, root_orient=None, center=True).vertices
                yield sub.astype(np.int64), verts.numpy().astype(np.float32)
            bar.update(len(idx))
