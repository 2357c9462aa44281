"""Content checks of dataset files: each is the stages' own reader, so what passes here, the stages accept.

A validator takes one file and returns a problem text or None; a reader's :class:`DataFileError` (or any
other error) is turned into that text by the engine (``vqhps.datacheck.manifest``).
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = [
    "npy_shape",
    "torch_checkpoint",
    "body_model",
    "regressor",
    "motion_file",
    "threedpw_sequence",
    "emdb_sequence",
    "label_file_images",
]

Validator = Callable[[Path], "str | None"]


def _npy_header(fp) -> tuple[tuple[int, ...], np.dtype]:
    version = np.lib.format.read_magic(fp)
    reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = reader(fp)
    return tuple(shape), dtype


def npy_shape(shape: tuple[int | None, ...]) -> Validator:
    """``.npy`` whose shape matches (None = any size on that axis); reads the header only."""

    def check(path: Path) -> str | None:
        with open(path, "rb") as fp:
            got, _ = _npy_header(fp)
        ok = len(got) == len(shape) and all(s is None or s == g for s, g in zip(shape, got, strict=True))
        return None if ok else f"shape {got}, expected {shape}"

    return check


def torch_checkpoint(path: Path) -> str | None:
    """A torch checkpoint: zip archive (torch >= 1.6) or legacy pickle stream."""
    if zipfile.is_zipfile(path):
        return None
    with open(path, "rb") as fh:
        head = fh.read(2)
    return None if head[:1] == b"\x80" else "is neither a torch zip checkpoint nor a legacy pickle"


def body_model(min_betas: int = 10) -> Validator:
    """An SMPL ``.pkl`` / SMPL-H ``model.npz`` read as the stages read it (6,890 vertices, >= min_betas)."""

    def check(path: Path) -> str | None:
        from vqhps.body.smpl import SMPL_NUM_VERTICES, read_model_arrays

        read_model_arrays(path, num_vertices=SMPL_NUM_VERTICES, min_betas=min_betas)
        return None

    return check


def regressor(path: Path) -> str | None:
    """J_regressor_h36m.npy read as the stages read it ((17, 6890), no pickles)."""
    from vqhps.ingest.mesh_sets import read_regressor

    read_regressor(path)
    return None


def motion_file(path: Path) -> str | None:
    """An AMASS / BEDLAM-animation motion npz read as ``prepare_meshes`` reads it."""
    from vqhps.ingest.amass import load_motion

    load_motion(path)
    return None


def _absent(paths: list[Path]) -> str | None:
    absent = [p for p in paths if not p.is_file()]
    if not absent:
        return None
    first = ", ".join(p.name for p in absent[:3])
    return f"{len(absent)} of {len(paths)} frame images missing in {absent[0].parent} ({first}, ...)"


def threedpw_sequence(path: Path) -> str | None:
    """A 3DPW sequence pickle read as the stages read it, and an image for each of its frames.

    ``<root>/sequenceFiles/<split>/<seq>.pkl`` needs ``<root>/imageFiles/<sequence>/image_%05d.jpg`` for
    every frame (the sequence name stored in the pickle, as the reader builds the image names).
    """
    from vqhps.ingest.threedpw import load_sequence, validate_sequence

    data = load_sequence(path)
    n = validate_sequence(path, data)
    folder = path.parents[2] / "imageFiles" / str(data["sequence"])
    return _absent([folder / f"image_{t:05d}.jpg" for t in range(n)])


def emdb_sequence(path: Path) -> str | None:
    """An EMDB sequence pickle read as the stages read it, and the images of the frames they use."""
    from vqhps.ingest.emdb import load_sequence

    data = load_sequence(path)
    keep = np.asarray(data["good_frames_mask"], dtype=bool).copy()
    invalid = np.asarray(data["bboxes"]["invalid_idxs"], dtype=np.int64).reshape(-1)
    keep[invalid[(invalid >= 0) & (invalid < len(keep))]] = False
    return _absent([path.parent / "images" / f"{t:05d}.jpg" for t in np.flatnonzero(keep)])


def label_file_images(path: Path) -> str | None:
    """A BEDLAM/CLIFF label npz read as the stages read it, and every ``imgname`` present beside it."""
    from vqhps.ingest.bedlam import read_label_file

    records = read_label_file(path)
    if len(records.imgname) == 0:
        return "holds no frames"
    absent = [str(n) for n in records.imgname if not (path.parent / str(n)).is_file()]
    if absent:
        return (
            f"{len(absent)} of {len(records.imgname)} images not found relative to {path.parent}: "
            f"{absent[:3]} (unpack the images there)"
        )
    return None
