"""EMDB reader: per-sequence nested-dict pickles -> EMDB-1 test frames and a seeded EMDB-2 split."""

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
    "REQUIRED_KEYS",
    "BOX_FACTOR",
    "sequence_files",
    "load_sequence",
    "validate_sequence",
    "read_sequence",
    "read_subset",
    "emdb2_split",
]

REQUIRED_KEYS = (
    "gender",
    "emdb1",
    "emdb2",
    "n_frames",
    "good_frames_mask",
    "smpl",
    "camera",
    "kp2d",
    "bboxes",
)
BOX_FACTOR = 1.2  # crop side = 1.2 x max(w, h) of the ground-truth box (reference §4)


def sequence_files(root: str | os.PathLike) -> list[Path]:
    """Sorted ``<root>/P*/<seq>/*_data.pkl``."""
    return sorted(Path(root).glob("P*/*/*_data.pkl"))


def load_sequence(path: str | os.PathLike) -> dict:
    """Load one EMDB pickle through the restricted unpickler and check it (:func:`validate_sequence`).

    Raises:
        MissingFieldError: a required key (or ``smpl``/``camera``/``bboxes`` sub-key) is missing.
        DataFileError: a field has the wrong shape or disagrees with ``n_frames``.
    """
    data = load_pickle(path, encoding="latin1")
    validate_sequence(path, data)
    return data


# Per-frame arrays of an EMDB pickle and their trailing shapes (N = n_frames).
_PER_FRAME = {
    "good_frames_mask": (),
    "kp2d": (24, 2),
    "smpl.poses_root": (3,),
    "smpl.poses_body": (69,),
    "smpl.trans": (3,),
    "camera.extrinsics": (4, 4),
    "bboxes.bboxes": (4,),
}


def validate_sequence(path: str | os.PathLike, data: object) -> int:
    """Check a loaded EMDB sequence: nested keys, and ``n_frames`` rows in every per-frame array.

    Returns:
        ``n_frames``.

    Raises:
        MissingFieldError, DataFileError: naming the file, the field, the expected and the found value.
    """
    if not isinstance(data, dict):
        raise DataFileError(path, "file", "a dict of EMDB sequence fields", f"a {type(data).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    for group, keys in (
        ("smpl", ("poses_root", "poses_body", "betas")),
        ("camera", ("extrinsics",)),
        ("bboxes", ("bboxes", "invalid_idxs")),
    ):
        sub = data.get(group, {})
        missing += [f"{group}.{k}" for k in keys if not isinstance(sub, dict) or k not in sub]
    if missing:
        raise MissingFieldError(path, "keys", "the EMDB sequence fields", f"no {missing}")
    n = int(np.asarray(data["n_frames"]).reshape(-1)[0]) if np.size(data["n_frames"]) == 1 else -1
    if n < 1:
        raise DataFileError(path, "n_frames", "a positive frame count", repr(data["n_frames"]))
    for dotted, tail in _PER_FRAME.items():
        group, _, key = dotted.rpartition(".")
        holder = data[group] if group else data
        if key in holder:
            check_shape(path, dotted, holder[key], (n, *tail), f"n_frames = {n} rows")
    betas = np.asarray(data["smpl"]["betas"])
    if betas.size < 10:
        raise DataFileError(path, "smpl.betas", "at least 10 shape values", f"shape {betas.shape}")
    if "intrinsics" in data["camera"]:
        check_shape(path, "camera.intrinsics", data["camera"]["intrinsics"], (3, 3))
    check_gender(path, "gender", data["gender"])
    return n


def read_sequence(path: str | os.PathLike) -> FrameRecords | None:
    """Frames with ``good_frames_mask`` and not in ``bboxes.invalid_idxs`` (EMDB protocol, reference §4).

    Returns:
        :class:`FrameRecords`: imgname ``P?/<seq>/images/%05d.jpg``, crop = GT box x 1.2, 24 projected SMPL
        joints (confidence 1) as keypoints, root orientation in the camera frame; None if no frame qualifies.
    """
    path = Path(path)
    data = load_sequence(path)
    n = int(data["n_frames"])
    keep = np.asarray(data["good_frames_mask"], dtype=bool).copy()  # (n,), checked on load
    invalid = np.asarray(data["bboxes"]["invalid_idxs"], dtype=np.int64).reshape(-1)
    keep[invalid[(invalid >= 0) & (invalid < n)]] = False
    idx = np.flatnonzero(keep)
    if len(idx) == 0:
        return None
    smpl = data["smpl"]
    boxes = np.asarray(data["bboxes"]["bboxes"], dtype=np.float64)[idx]  # xyxy, pixels
    side = BOX_FACTOR * np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    kp = np.asarray(data["kp2d"], dtype=np.float32)[idx]
    kp = np.concatenate([kp, np.ones((*kp.shape[:2], 1), dtype=np.float32)], axis=-1)
    extrinsics = np.asarray(data["camera"]["extrinsics"], dtype=np.float64)[idx]
    seq_dir = f"{path.parent.parent.name}/{path.parent.name}"
    gender = normalize_gender(data["gender"])  # "male" stays male (the original mapped it to female)
    return FrameRecords(
        dataset="emdb",
        imgname=np.array([f"{seq_dir}/images/{t:05d}.jpg" for t in idx]),
        center=((boxes[:, :2] + boxes[:, 2:]) / 2).astype(np.float32),
        scale=(side / 200.0).astype(np.float32),
        gender=np.array([gender] * len(idx)),
        betas=np.repeat(np.asarray(smpl["betas"], dtype=np.float32).reshape(1, -1)[:, :10], len(idx), axis=0),
        root_orient=root_to_camera(extrinsics[:, :3, :3], np.asarray(smpl["poses_root"], np.float64)[idx]),
        pose_body=np.asarray(smpl["poses_body"], dtype=np.float32)[idx, :63],
        pose_hands=np.asarray(smpl["poses_body"], dtype=np.float32)[idx, 63:69],
        keypoints_2d=kp,
        sequence=np.array([seq_dir] * len(idx)),
        frame=idx.astype(np.int64),
        person=np.zeros(len(idx), dtype=np.int64),
    )


def read_subset(
    root: str | os.PathLike, subset: str = "emdb1", files: list[Path] | None = None
) -> FrameRecords:
    """All qualifying frames of the sequences flagged ``subset`` ("emdb1" = the test benchmark, or "emdb2").

    Args:
        root: EMDB root holding ``P0`` .. ``P9``.
        subset: flag to select on.
        files: restrict to these sequence pickles (e.g. one side of :func:`emdb2_split`).

    Raises:
        FileNotFoundError: no sequence pickle / no sequence with the flag.
    """
    if subset not in ("emdb1", "emdb2"):
        raise ValueError(f"subset must be 'emdb1' or 'emdb2', got {subset!r}")
    files = sequence_files(root) if files is None else files
    parts = []
    for f in files:
        if bool(load_sequence(f)[subset]) and (rec := read_sequence(f)) is not None:
            parts.append(rec)
    if not parts:
        what = f"no EMDB sequence with {subset}=True and usable frames under {root}"
        raise FileNotFoundError(missing_folder_message(root, what))
    return concat_records(parts, "emdb")


def emdb2_split(
    root: str | os.PathLike, val_fraction: float = 0.2, seed: int = 0
) -> tuple[list[Path], list[Path]]:
    """Seeded sequence-level train/val split of EMDB-2 (the original shuffled unseeded, §3.6).

    Returns:
        (train pickles, val pickles), each sorted; at least one val sequence when there are two or more.
    """
    files = [f for f in sequence_files(root) if bool(load_sequence(f)["emdb2"])]
    order = np.random.default_rng(seed).permutation(len(files))
    n_val = min(max(1, round(val_fraction * len(files))), len(files) - 1) if len(files) > 1 else 0
    val = sorted(files[i] for i in order[:n_val])
    train = sorted(files[i] for i in order[n_val:])
    return train, val
