"""The paper's image set: real-image crops, H36M-17 keypoints, camera-frame rotation, gendered GT meshes.

Every named *image set* (a label file or a dataset split) becomes image-shard rows plus one canonical SMPL-H
mesh per row (``mesh_id`` = the image row's ``id``). Row ids are ``<set>-<index in the reader's order>``, so
they do not change when a set is subsampled. Test rows also get a second GT mesh, the SMPL model with the full
pose (:func:`full_pose_mesh_columns`), for the protocols that prescribe it (``standard``, ``emdb``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vqhps.body.smpl import BodyModel, normalize_gender
from vqhps.eval.test_sets import record_frame_ids
from vqhps.geometry import axis_angle_to_matrix
from vqhps.infra.seeding import stage_seed
from vqhps.ingest import bedlam, emdb, threedpw
from vqhps.ingest.cameras import CameraLabels, emdb_cameras, threedpw_cameras
from vqhps.ingest.crops import crop_and_encode, crop_boxes, crop_intrinsics, to_crop_pixels
from vqhps.ingest.keypoints import camera_joints_h36m, project_points, spin24_to_h36m
from vqhps.ingest.layout import missing_folder_message
from vqhps.ingest.mesh_sets import canonical_vertices
from vqhps.ingest.records import FrameRecords

__all__ = [
    "IMAGE_SETS",
    "ImageSet",
    "load_image_set",
    "subsample",
    "original_keypoints",
    "image_rows",
    "full_pose_mesh_columns",
    "iter_image_rows",
]

# image set -> (dataset kind, reader argument, row `source`)
IMAGE_SETS: dict[str, tuple[str, str, str]] = {
    **{name: ("labels", name, name) for name in bedlam.LABEL_SETS},
    "3dpw_train": ("3dpw", "train", "3dpw"),
    "3dpw_validation": ("3dpw", "validation", "3dpw"),
    "3dpw_test": ("3dpw", "test", "3dpw"),
    "emdb1": ("emdb", "emdb1", "emdb1"),
    "emdb2_train": ("emdb", "emdb2_train", "emdb2"),
    "emdb2_val": ("emdb", "emdb2_val", "emdb2"),
}

Encoder = Callable[[Callable[[tuple], bytes], Iterable[tuple]], Iterable[bytes]]  # map / Pool.imap


@dataclass
class ImageSet:
    """One image set read from the data root.

    Attributes:
        name: image set name (key of :data:`IMAGE_SETS`).
        source: value of the rows' ``source`` column ("coco", "3dpw", "emdb1", ...).
        records: per-row labels (original image pixels, camera-frame root orientation).
        image_root: folder the records' ``imgname`` is relative to.
        cameras: per-row camera and world fit (3DPW, EMDB), None for the label sets.
    """

    name: str
    source: str
    records: FrameRecords
    image_root: Path
    cameras: CameraLabels | None


def load_image_set(name: str, data_root: str | os.PathLike, emdb2_val_fraction: float, seed: int) -> ImageSet:
    """Read image set ``name`` from ``data_root`` (layout of the check_data manifests).

    Args:
        name: a key of :data:`IMAGE_SETS`.
        emdb2_val_fraction: fraction of EMDB-2 sequences held out as ``emdb2_val``.
        seed: seeds the EMDB-2 sequence split (the original shuffled without a seed, §3.6).

    Raises:
        ValueError: unknown set name. FileNotFoundError / KeyError: missing or malformed files (from readers).
    """
    if name not in IMAGE_SETS:
        raise ValueError(f"unknown image set {name!r}; known: {', '.join(IMAGE_SETS)}")
    kind, arg, source = IMAGE_SETS[name]
    root = Path(data_root)
    if kind == "labels":
        folder = root / "bedlam_real" / arg
        return ImageSet(name, source, bedlam.read_label_file(folder / f"{arg}.npz", arg), folder, None)
    if kind == "3dpw":
        folder = root / "3dpw"
        rec = threedpw.read_split(
            folder, arg, require_campose_valid=True
        )  # camera-frame GT needs a valid camera
        return ImageSet(name, source, rec, folder, threedpw_cameras(folder, arg, rec))
    folder = root / "emdb"
    if arg == "emdb1":
        rec = emdb.read_subset(folder, "emdb1")
    else:
        files = emdb2_files(root, name, emdb2_val_fraction, seed)
        rec = emdb.read_subset(folder, "emdb2", files=files)
    return ImageSet(name, source, rec, folder, emdb_cameras(folder, rec))


def emdb2_files(data_root: str | os.PathLike, name: str, val_fraction: float, seed: int) -> list[Path]:
    """The EMDB-2 sequence pickles of ``emdb2_train`` or ``emdb2_val`` (the seeded sequence split).

    ``prepare_images`` calls it before any work, so too few EMDB-2 sequences stop the stage at once.

    Raises:
        FileNotFoundError: the split leaves ``name`` without a sequence (says how many were found).
    """
    folder = Path(data_root) / "emdb"
    train, val = emdb.emdb2_split(folder, val_fraction, seed)
    files = train if name == "emdb2_train" else val
    if not files:
        found = len(train) + len(val)
        raise FileNotFoundError(
            missing_folder_message(
                folder,
                f"{name}: {found} EMDB-2 sequence(s) (emdb2=True) under {folder}; the seeded train/val "
                "split needs at least 2 (EMDB has 64): add the missing sequences or drop emdb2_train and "
                "emdb2_val from prepare_images.splits",
            )
        )
    return files


def subsample(n: int, max_rows: int, seed: int) -> np.ndarray:
    """Sorted indices of a seeded subset of ``max_rows`` of ``n`` rows (all when ``max_rows`` < 0 or >= n)."""
    if max_rows < 0 or max_rows >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_rows, replace=False))


def original_keypoints(
    iset: ImageSet, index: np.ndarray, smpl_models: Mapping[str, BodyModel], regressor: np.ndarray
) -> np.ndarray:
    """17 H36M keypoints of rows ``index`` in original image pixels: (n, 17, 3) u, v, confidence.

    Label sets: their SPIN-J24 ``part`` reordered (confidence from the labels). 3DPW / EMDB: the ground-truth
    SMPL fit placed in the camera frame, joints regressed with ``J_regressor_h36m`` and projected with the
    dataset's intrinsics (confidence 1 in front of the camera): exactly the joints the metrics use.
    """
    rec = iset.records
    if iset.cameras is None:
        return spin24_to_h36m(rec.keypoints_2d[index], source=str(iset.image_root))
    cams = iset.cameras.take(index)
    genders = np.array([normalize_gender(g) for g in rec.gender[index]])
    joints = np.empty((len(index), 17, 3))
    for g in np.unique(genders):
        sel = np.flatnonzero(genders == g)
        joints[sel] = camera_joints_h36m(
            smpl_models[g],
            regressor,
            rec.betas[index][sel],
            cams.pose[sel],
            cams.trans[sel],
            cams.R[sel],
            cams.t[sel],
        )
    return project_points(joints, cams.K)


def stored_crop(boxes: np.ndarray, crop_size: int, context: float) -> tuple[np.ndarray, int, np.ndarray]:
    """The stored crop around the original's crop boxes, and where the original's box lies inside it.

    The original crops ``side = 200 * scale`` around ``center`` (SPIN's ``crop``) and augments around that
    box (scale x 0.75..1.25, rotation up to 60 degrees), reading image context outside it. The stored crop
    keeps that context: the same centre, a margin of ``round((context - 1) * crop_size / 2)`` px on each
    side of the box, and the box exactly ``crop_size`` px wide at an integer offset, so a ``bbox_rescale``
    1.0 crop of ``bbox`` at ``crop_size`` is the original's network input, resampled nowhere.
    ``context`` 1.77 (= 1.25 * sqrt 2) covers every scale and rotation draw.

    Args:
        boxes: (N, 3) the original's boxes, x0, y0, side (pixels of the original image; :func:`crop_boxes`).
        crop_size: px of the original's box in the stored crop (the network input size, 224).
        context: about the stored side / the original's side, >= 1.

    Returns:
        (stored boxes (N, 3) in original pixels, stored crop side px, ``bbox`` (N, 4) float32 xyxy: the
        original's box in stored-crop pixels).
    """
    if context < 1:
        raise ValueError(f"context must be >= 1 (the stored crop holds the original's box), got {context}")
    margin = int(round((context - 1) * crop_size / 2))
    pixels = crop_size + 2 * margin
    side = boxes[:, 2] * pixels / crop_size
    centre = boxes[:, :2] + boxes[:, 2:3] / 2
    stored = np.concatenate([centre - side[:, None] / 2, side[:, None]], axis=1)
    bbox = np.array([margin, margin, margin + crop_size, margin + crop_size], dtype=np.float32)
    return stored, pixels, np.tile(bbox, (len(boxes), 1))


def image_rows(
    iset: ImageSet,
    index: np.ndarray,
    split: str,
    crop_size: int,
    jpeg_quality: int,
    smplh_models: Mapping[str, BodyModel],
    smpl_models: Mapping[str, BodyModel],
    regressor: np.ndarray,
    num_betas: int = 10,
    encoder: Encoder = map,
    context: float = 1.0,
) -> tuple[dict[str, object], dict[str, object]]:
    """Image-shard and mesh-shard columns of rows ``index`` of an image set.

    The stored image is the original's crop box with ``context`` (see :func:`stored_crop`); ``bbox`` is the
    original's box inside it. Keypoints outside that box keep their coordinates but get confidence 0: the
    network sees the box, and an off-crop target (e.g. another person's box in a label file) would dominate
    an L1 loss.

    Args:
        iset: the image set.
        index: (n,) row indices into ``iset.records``.
        split: "train", "val" or "test".
        crop_size: side of the original's box in the stored crop, pixels (224 in the paper).
        jpeg_quality: 1..100.
        smplh_models: gendered SMPL-H models for the canonical GT meshes.
        smpl_models: gendered SMPL models for projecting 3DPW/EMDB fits (unused for label sets).
        regressor: (17, V) J_regressor_h36m.
        num_betas: betas used for the GT meshes.
        encoder: ``map``-like callable over ``crop_and_encode`` tasks (e.g. ``Pool.imap``); keeps order.
        context: stored crop side / the original's box side (1 = the box alone).

    Returns:
        (image columns, mesh columns), both in the order of ``index``.
    """
    rec = iset.records
    n = len(index)
    ids = _row_ids(iset, index)
    boxes, pixels, bbox = stored_crop(crop_boxes(rec.center[index], rec.scale[index]), crop_size, context)
    tasks = [(iset.image_root / rec.imgname[i], boxes[j], pixels, jpeg_quality) for j, i in enumerate(index)]
    images = list(encoder(crop_and_encode, tasks))
    kp = to_crop_pixels(original_keypoints(iset, index, smpl_models, regressor), boxes, pixels)
    lo, hi = bbox[0, 0], bbox[0, 2]
    outside = (kp[..., 0] < lo) | (kp[..., 1] < lo) | (kp[..., 0] >= hi) | (kp[..., 1] >= hi)
    kp[..., 2] = np.where(outside, 0.0, np.clip(kp[..., 2], 0.0, 1.0))
    rot = axis_angle_to_matrix(torch.as_tensor(rec.root_orient[index], dtype=torch.float64)).numpy()
    nan9, nan3 = np.full((n, 9), np.nan, np.float32), np.full((n, 3), np.nan, np.float32)
    cams = iset.cameras.take(index) if iset.cameras is not None else None
    image_cols = {
        "id": ids,
        "mesh_id": ids,
        "source": [iset.source] * n,
        "split": [split] * n,
        "image": images,
        "height": [pixels] * n,
        "width": [pixels] * n,
        "keypoints2d": kp.reshape(n, -1),
        "bbox": bbox,
        "global_rot": rot.reshape(n, 9).astype(np.float32),
        "cam_K": nan9 if cams is None else crop_intrinsics(cams.K, boxes, pixels).reshape(n, 9),
        "cam_R": nan9 if cams is None else cams.R.reshape(n, 9).astype(np.float32),
        "cam_t": nan3 if cams is None else cams.t.astype(np.float32),
    }
    betas, pose_body = rec.betas[index], rec.pose_body[index]
    mesh_cols = {
        "id": ids,
        "source": [iset.source] * n,
        "split": [split] * n,
        "vertices": canonical_vertices(betas, pose_body, rec.gender[index], smplh_models, num_betas),
        "pose": list(pose_body.astype(np.float32)),
        "shape": list(betas[:, :num_betas].astype(np.float32)),
        "gender": [normalize_gender(g) for g in rec.gender[index]],
    }
    return image_cols, mesh_cols


def _row_ids(iset: ImageSet, index: np.ndarray) -> list[str]:
    return [f"{iset.name}-{i:07d}" for i in index]


def full_pose_mesh_columns(
    iset: ImageSet,
    index: np.ndarray,
    split: str,
    smpl_models: Mapping[str, BodyModel],
    num_betas: int = 10,
) -> dict[str, object]:
    """Mesh-shard columns of the full-pose SMPL GT of rows ``index``: the ``standard`` / ``emdb`` GT.

    The same canonical (root = identity), centred, gendered mesh as :func:`image_rows`' SMPL-H one, but built
    with the SMPL model and all 23 pose joints (3DPW's 72-d ``poses``, EMDB's ``poses_body`` 69 values), so
    SMPL's hand joints 22, 23 bend the hands as SPIN/CLIFF/TokenHMR's and EMDB's evaluation GT does.

    Args:
        iset: the image set.
        index: (n,) row indices into ``iset.records``.
        split: the rows' split.
        smpl_models: gendered SMPL models (24 joints).
        num_betas: betas used for the meshes.

    Returns:
        Mesh columns in the order of ``index``; ``id`` = the image row's ``mesh_id``, ``pose`` (69,) values.
    """
    rec = iset.records
    pose, betas = rec.full_pose[index], rec.betas[index]
    return {
        "id": _row_ids(iset, index),
        "source": [iset.source] * len(index),
        "split": [split] * len(index),
        "vertices": canonical_vertices(betas, pose, rec.gender[index], smpl_models, num_betas),
        "pose": list(pose),
        "shape": list(betas[:, :num_betas].astype(np.float32)),
        "gender": [normalize_gender(g) for g in rec.gender[index]],
    }


def iter_image_rows(
    data_root: str | os.PathLike,
    splits: Mapping[str, Sequence[str]],
    max_rows: Mapping[str, int],
    seed: int,
    emdb2_val_fraction: float,
    chunk: int,
    on_frames: Callable[[str, dict[str, list]], None] | None = None,
    full_pose_models: Mapping[str, BodyModel] | None = None,
    **row_kwargs,
) -> Iterator[tuple[str, dict[str, object], dict[str, object], dict[str, object] | None]]:
    """All rows of an image set configuration, ``chunk`` at a time, in a deterministic order.

    Order: splits as in ``vqhps.io.schemas.SPLITS``, image sets in the order listed per split, rows in reader
    order. ``row_kwargs`` go to :func:`image_rows` (crop size, models, encoder, ...). ``on_frames``, if given,
    is called with (split, :func:`vqhps.eval.test_sets.record_frame_ids` columns) of every chunk: the readers'
    (sequence, frame, person) of each row, which the shards do not hold. With ``full_pose_models``
    (gendered SMPL), test chunks also get the full-pose SMPL GT columns (:func:`full_pose_mesh_columns`).

    Yields:
        (image set name, image columns, mesh columns, full-pose GT mesh columns or None: not a test chunk,
        or no ``full_pose_models``).
    """
    from vqhps.io.schemas import SPLITS

    for split in SPLITS:
        for name in splits.get(split, ()):
            iset = load_image_set(name, data_root, emdb2_val_fraction, seed)
            index = subsample(len(iset.records), max_rows.get(name, -1), stage_seed(seed, "subsample", name))
            for start in range(0, len(index), chunk):
                part = index[start : start + chunk]
                image_cols, mesh_cols = image_rows(iset, part, split, **row_kwargs)
                full_cols = None
                if split == "test" and full_pose_models is not None:
                    num_betas = row_kwargs.get("num_betas", 10)
                    full_cols = full_pose_mesh_columns(iset, part, split, full_pose_models, num_betas)
                if on_frames is not None:
                    rec = iset.records
                    ids = image_cols["id"]
                    on_frames(split, record_frame_ids(ids, iset.source, rec.sequence[part], rec.frame[part],
                                                      rec.person[part]))  # fmt: skip
                yield name, image_cols, mesh_cols, full_cols
