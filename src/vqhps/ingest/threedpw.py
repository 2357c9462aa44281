"""3DPW reader: Python-2 latin-1 sequence pickles -> camera-frame per-person-frame ground truth."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vqhps.body.smpl import check_gender, normalize_gender
from vqhps.ingest.layout import missing_folder_message
from vqhps.ingest.records import FrameRecords, concat_records, root_to_camera
from vqhps.io.errors import DataFileError, MissingFieldError, check_shape
from vqhps.io.safe_pickle import load_pickle

__all__ = [
    "SPLITS",
    "REQUIRED_KEYS",
    "sequence_files",
    "load_sequence",
    "validate_sequence",
    "keypoint_boxes",
    "smooth_boxes",
    "read_sequence",
    "read_split",
]

SPLITS = ("train", "validation", "test")
# The readme says `gender` / `poses2D`; the files really use `genders` / `poses2d` (peers-eval-formats §3.2).
REQUIRED_KEYS = ("sequence", "poses", "betas", "genders", "poses2d", "cam_poses", "campose_valid")
# Per-person lists and the trailing shape of each entry (N = frames of the sequence, from cam_poses).
PER_PERSON = {
    "poses": (72,),
    "poses2d": (3, 18),
    "campose_valid": (),
    "trans": (3,),
    "jointPositions": (72,),
}
VIS_THRESH = 0.3  # keypoint confidence above which a 2D joint counts as visible
BOX_DIAG_TO_SCALE = 150.0  # scale = diag / 150, crop side = 200 * scale ~ 1.33 x keypoint-box diagonal


def sequence_files(root: str | os.PathLike, split: str) -> list[Path]:
    """Sorted ``<root>/sequenceFiles/<split>/*.pkl``."""
    if split not in SPLITS:
        raise ValueError(f"unknown 3DPW split {split!r}; expected one of {SPLITS}")
    return sorted((Path(root) / "sequenceFiles" / split).glob("*.pkl"))


def load_sequence(path: str | os.PathLike) -> dict:
    """Load one sequence pickle (latin-1, restricted unpickler) and check it (:func:`validate_sequence`).

    Raises:
        MissingFieldError: a required key is missing (a KeyError; names the file and the keys present).
        DataFileError: a field has the wrong shape or the frame counts disagree (names file and field).
    """
    data = load_pickle(path, encoding="latin1")
    validate_sequence(path, data)
    return data


def validate_sequence(path: str | os.PathLike, data: object) -> int:
    """Check a loaded 3DPW sequence: keys, per-person list lengths, and one frame count N for all fields.

    ``cam_poses`` (N, 4, 4) sets N; every person's ``poses`` (N, 72), ``poses2d`` (N, 3, 18),
    ``campose_valid`` (N,), ``trans`` (N, 3) and ``jointPositions`` (N, 72) must agree with it, and
    ``betas`` hold at least 10 values (the readers use 10).

    Returns:
        N, the number of frames.

    Raises:
        MissingFieldError, DataFileError: naming the file, the field, the expected and the found value.
    """
    if not isinstance(data, dict):
        raise DataFileError(path, "file", "a dict of 3DPW sequence fields", f"a {type(data).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise MissingFieldError(path, "keys", f"all of {list(REQUIRED_KEYS)}", f"no {missing}")
    n = len(check_shape(path, "cam_poses", data["cam_poses"], (None, 4, 4), "one camera per frame"))
    people = len(data["poses"])
    if people == 0:
        raise DataFileError(path, "poses", "at least one person", "an empty list")
    for key in [*PER_PERSON, "betas", "genders"]:
        if key in data and len(data[key]) != people:
            raise DataFileError(
                path, key, f"{people} entries (one per person, as poses)", f"{len(data[key])}"
            )
    for key, tail in PER_PERSON.items():
        for p, value in enumerate(data.get(key, ())):
            check_shape(path, f"{key}[{p}]", value, (n, *tail), f"{n} frames as cam_poses")
    for p, betas in enumerate(data["betas"]):
        if np.ndim(betas) != 1 or np.shape(betas)[0] < 10:
            raise DataFileError(path, f"betas[{p}]", "at least 10 shape values", f"shape {np.shape(betas)}")
    for p, gender in enumerate(data["genders"]):
        check_gender(path, f"genders[{p}]", gender)
    if "cam_intrinsics" in data:
        check_shape(path, "cam_intrinsics", data["cam_intrinsics"], (3, 3))
    return n


def keypoint_boxes(keypoints: np.ndarray, vis_thresh: float = VIS_THRESH) -> np.ndarray:
    """Per-frame box (cx, cy, diag) from the visible 2D keypoints; NaN where fewer than 2 are visible.

    Args:
        keypoints: (N, K, 3) x, y, confidence, pixels.

    Returns:
        (N, 3) float64: centre x, centre y, box diagonal (pixels).
    """
    out = np.full((len(keypoints), 3), np.nan)
    for t, kp in enumerate(keypoints):
        vis = kp[:, 2] > vis_thresh
        if vis.sum() < 2:
            continue
        lo, hi = kp[vis, :2].min(axis=0), kp[vis, :2].max(axis=0)
        diag = float(np.linalg.norm(hi - lo))
        if diag >= 0.5:
            out[t] = [(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, diag]
    return out


def _median_filter(x: np.ndarray, kernel: int) -> np.ndarray:
    """Running median along axis 0, edges padded by repetition."""
    half = kernel // 2
    padded = np.pad(x, ((half, half), (0, 0)), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, kernel, axis=0)
    return np.median(windows, axis=-1)


def _gaussian_filter(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along axis 0, mirrored edges, kernel truncated at 4 sigma."""
    radius = int(4.0 * sigma + 0.5)
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    padded = np.pad(x, ((radius, radius), (0, 0)), mode="symmetric")
    return np.stack([np.convolve(padded[:, c], taps, mode="valid") for c in range(x.shape[1])], axis=1)


def smooth_boxes(boxes: np.ndarray, kernel: int = 11, sigma: float = 8.0) -> np.ndarray:
    """Fill missing boxes by linear interpolation, then median (kernel 11) and Gaussian (sigma 8) filters.

    Fix of the original bug (reference §3.6): the VIBE-style smoother there drops the frames before the first
    detection and pads its output with zeros for them, while images are sliced ``[time_pt1:time_pt2]`` and
    poses are not, so labels and images drift apart whenever ``time_pt1 > 0``. Here every output row is the
    box of the same absolute frame index as the input row (leading/trailing gaps hold the nearest box).
    The median filter pads by edge repetition (scipy's medfilt pads with zeros).

    Args:
        boxes: (N, 3) from :func:`keypoint_boxes`, NaN rows = no detection.

    Returns:
        (N, 3) smoothed boxes, same frame indexing; all NaN if no frame had a box.
    """
    valid = ~np.isnan(boxes).any(axis=1)
    if not valid.any():
        return np.full_like(boxes, np.nan)
    frames = np.arange(len(boxes))
    filled = np.stack([np.interp(frames, frames[valid], boxes[valid, c]) for c in range(3)], axis=1)
    return _gaussian_filter(_median_filter(filled, kernel), sigma)


def read_sequence(path: str | os.PathLike, require_campose_valid: bool = True) -> FrameRecords | None:
    """All person-frames of one sequence (``campose_valid`` frames only by default).

    Returns:
        :class:`FrameRecords` with imgname ``imageFiles/<seq>/image_%05d.jpg``, OpenPose-18 keypoints,
        camera-frame root orientation; None if no frame qualifies.
    """
    data = load_sequence(path)
    seq = str(data["sequence"])
    cam_rot = np.asarray(data["cam_poses"], dtype=np.float64)[:, :3, :3]
    parts = []
    for p, poses in enumerate(data["poses"]):
        poses = np.asarray(poses, dtype=np.float64)
        kp = np.asarray(data["poses2d"][p], dtype=np.float32).transpose(0, 2, 1)  # (N, 3, 18) -> (N, 18, 3)
        box = smooth_boxes(keypoint_boxes(kp))
        keep = ~np.isnan(box).any(axis=1)
        if require_campose_valid:
            keep &= np.asarray(data["campose_valid"][p], dtype=bool)  # (N,), checked on load
        idx = np.flatnonzero(keep)
        if len(idx) == 0:
            continue
        betas = np.asarray(data["betas"][p], dtype=np.float32)[:10]
        gender = normalize_gender(data["genders"][p])
        # One absolute frame index t for image, pose, box and camera: no time_pt1 shift (§3.6).
        parts.append(
            FrameRecords(
                dataset="3dpw",
                imgname=np.array([f"imageFiles/{seq}/image_{t:05d}.jpg" for t in idx]),
                center=box[idx, :2].astype(np.float32),
                scale=(box[idx, 2] / BOX_DIAG_TO_SCALE).astype(np.float32),
                gender=np.array([gender] * len(idx)),
                betas=np.repeat(betas[None], len(idx), axis=0),
                root_orient=root_to_camera(cam_rot[idx], poses[idx, :3]),
                pose_body=poses[idx, 3:66].astype(np.float32),
                pose_hands=poses[idx, 66:72].astype(np.float32),
                keypoints_2d=kp[idx],
                sequence=np.array([seq] * len(idx)),
                frame=idx.astype(np.int64),
                person=np.full(len(idx), p, dtype=np.int64),
            )
        )
    return concat_records(parts, "3dpw") if parts else None


def read_split(root: str | os.PathLike, split: str, require_campose_valid: bool = True) -> FrameRecords:
    """Every person-frame of a split (test protocol: ``campose_valid`` frames, every person).

    Raises:
        FileNotFoundError: the split folder holds no pickle.
    """
    files = sequence_files(root, split)
    if not files:
        what = f"no 3DPW pickles in {Path(root) / 'sequenceFiles' / split}"
        raise FileNotFoundError(missing_folder_message(root, what))
    parts = [r for f in files if (r := read_sequence(f, require_campose_valid)) is not None]
    return concat_records(parts, "3dpw")
