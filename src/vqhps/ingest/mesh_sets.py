"""Canonical, centred, gendered SMPL-H meshes: from motion files (train) and 3DPW people (val/test)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vqhps.body.smpl import (
    SMPL_NUM_VERTICES,
    BodyModel,
    load_body_model,
    normalize_gender,
    smpl_model_path,
    smplh_model_path,
)
from vqhps.data.motion_sampler import motion_row_id
from vqhps.data.splits import assign_splits
from vqhps.ingest import amass, threedpw
from vqhps.ingest.layout import missing_folder_message
from vqhps.ingest.records import FrameRecords
from vqhps.io.errors import as_data_error, check_shape

__all__ = [
    "MOTION_FOLDERS",
    "MeshRows",
    "load_models",
    "load_regressor",
    "read_regressor",
    "canonical_vertices",
    "motion_mesh_rows",
    "threedpw_mesh_rows",
    "iter_mesh_columns",
]

MOTION_FOLDERS = {"bedlam_animations": "bedlam_animations", "amass": "amass"}  # source -> folder in data_root
GENDERS = ("male", "female", "neutral")


@dataclass
class MeshRows:
    """Parameters of M meshes to build, column-wise (the vertices are computed chunk by chunk).

    Attributes:
        id: (M,) str unique row ids.
        source: (M,) str, e.g. "bedlam_animations", "amass/CMU", "3dpw".
        split: (M,) str "train"/"val"/"test".
        betas: (M, L) float32.
        pose_body: (M, 63) float32 axis-angle of SMPL-H joints 1..21, radians.
        gender: (M,) str "male"/"female"/"neutral".
    """

    id: np.ndarray
    source: np.ndarray
    split: np.ndarray
    betas: np.ndarray
    pose_body: np.ndarray
    gender: np.ndarray

    def __len__(self) -> int:
        return len(self.id)

    def take(self, index: np.ndarray) -> MeshRows:
        return MeshRows(
            *(getattr(self, k)[index] for k in ("id", "source", "split", "betas", "pose_body", "gender"))
        )


def load_models(
    data_root: str | os.PathLike, kind: str, genders: set[str] | None = None, num_betas: int | None = None
) -> dict[str, BodyModel]:
    """Gendered body models from ``<data_root>/body_models`` (``kind`` = "smplh" or "smpl").

    Each file must hold the 6,890-vertex SMPL mesh and at least ``num_betas`` shape components.

    Raises:
        FileNotFoundError: a model file is missing (names the path; check_data lists where to get it).
        DataFileError: a model file is damaged or has the wrong shapes (names file and array).
    """
    paths = {"smplh": smplh_model_path, "smpl": smpl_model_path}[kind]
    models = {}
    for g in sorted(genders or GENDERS):
        path = paths(Path(data_root) / "body_models", g)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: {kind} {g} body model missing; run check_data for instructions")
        models[g] = load_body_model(path, gender=g, num_vertices=SMPL_NUM_VERTICES, min_betas=num_betas)
    return models


def load_regressor(data_root: str | os.PathLike) -> np.ndarray:
    """``<data_root>/body_models/J_regressor_h36m.npy``: (17, V) float64, rows as H36M_JOINT_NAMES."""
    path = Path(data_root) / "body_models" / "J_regressor_h36m.npy"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: H36M joint regressor missing; run check_data for instructions")
    return read_regressor(path)


def read_regressor(path: str | os.PathLike) -> np.ndarray:
    """A J_regressor_h36m ``.npy`` checked to be (17, 6890) (no pickles): (17, V) float64.

    Raises:
        DataFileError: unreadable, or another shape (names the file).
    """
    try:
        reg = np.load(path, allow_pickle=False)
    except (ValueError, EOFError, OSError) as err:
        raise as_data_error(path, ".npy array", err) from None
    shape = (17, SMPL_NUM_VERTICES)
    return check_shape(path, "array", reg, shape, "H36M joints x vertices").astype(np.float64)


def canonical_vertices(
    betas: np.ndarray, pose_body: np.ndarray, gender: np.ndarray, models: dict[str, BodyModel], num_betas: int
) -> np.ndarray:
    """Canonical (root = identity), centred meshes in input order, each gender with its own model.

    Flat hands with the 63-value body pose; with SMPL models and the (N, 69) full pose, SMPL's hand joints
    22, 23 are posed too (:meth:`vqhps.body.smpl.BodyModel.smplh_body`).

    Args:
        betas: (N, L) shape coefficients; the first ``num_betas`` are used.
        pose_body: (N, 63) axis-angle of joints 1..21 (or (N, 69), joints 1..23, with SMPL), radians.
        gender: (N,) labels (any spelling ``normalize_gender`` accepts).
        models: body model per normalised gender.
        num_betas: betas to use (10 in the paper; 16 uses every SMPL-H component of AMASS files).

    Returns:
        (N, V, 3) float32 metres, mean vertex at the origin.
    """
    labels = np.array([normalize_gender(g) for g in gender])
    out = None
    with torch.no_grad():
        for g in np.unique(labels):
            if g not in models:
                raise ValueError(f"no body model for gender {g!r}; have {sorted(models)}")
            sel = np.flatnonzero(labels == g)
            b = torch.as_tensor(np.asarray(betas)[sel, :num_betas], dtype=torch.float32)
            p = torch.as_tensor(np.asarray(pose_body)[sel], dtype=torch.float32)
            verts = models[g].smplh_body(b, p, root_orient=None, center=True).vertices.numpy()
            if out is None:
                out = np.empty((len(labels), verts.shape[1], 3), dtype=np.float32)
            out[sel] = verts
    if out is None:
        raise ValueError("no rows to build meshes for")
    return out


def motion_mesh_rows(
    data_root: str | os.PathLike,
    source: str,
    subsets: tuple[str, ...],
    frame_stride: int,
    split_fractions: dict[str, float],
    seed: int,
) -> MeshRows:
    """Every ``frame_stride``-th frame of every motion file (Mesh-VQ-VAE's training meshes, reference §1.4).

    Row ids are ``motion_row_id(source, file, frame)``: the tokenizer's reader groups rows by file from
    them and samples file-then-frame as the original. Splits are assigned per motion file (all frames of a
    file share a split), so no motion leaks from train into val/test. Root orientation and hands are
    dropped later (canonical, flat hands).

    Args:
        source: "bedlam_animations" or "amass".
        subsets: AMASS subset folders to use (empty = every file under the folder).
        frame_stride: keep frames 0, k, 2k, ... of each file (1 = every frame).
        split_fractions: train/val/test fractions of the motion files.
        seed: seeds the file split.
    """
    folder = Path(data_root) / MOTION_FOLDERS[source]
    files = amass.motion_files(folder, list(subsets) or None)
    if not files:
        what = f"no motion *.npz under {folder} (subsets: {list(subsets) or 'all'})"
        raise FileNotFoundError(missing_folder_message(folder, what))
    frames = amass.strided_frames(files, frame_stride)
    file_split = assign_splits(len(files), split_fractions, seed + 1)
    per_file = frames["file"]
    names = [source if source != "amass" else f"amass/{Path(f).relative_to(folder).parts[0]}" for f in files]
    ids = [motion_row_id(source, int(f), int(t)) for f, t in zip(per_file, frames["frame"], strict=True)]
    return MeshRows(
        id=np.array(ids),
        source=np.array(names)[per_file],
        split=file_split[per_file].astype(str),
        betas=frames["betas"],
        pose_body=frames["pose_body"],
        gender=frames["gender"],
    )


def threedpw_mesh_rows(data_root: str | os.PathLike, split: str, frame_stride: int = 1) -> MeshRows:
    """Every person-frame (with a valid camera pose) of a 3DPW split, as Mesh-VQ-VAE's val/test meshes.

    Args:
        split: "validation" (-> split "val") or "test".
        frame_stride: keep every ``frame_stride``-th frame of each sequence (1 = all).
    """
    rec: FrameRecords = threedpw.read_split(Path(data_root) / "3dpw", split)
    rec = rec.take(np.flatnonzero(rec.frame % frame_stride == 0))
    name = {"validation": "val", "test": "test"}[split]
    ids = [
        f"3dpw-{split}-{s}-p{p}-f{t:05d}" for s, p, t in zip(rec.sequence, rec.person, rec.frame, strict=True)
    ]
    return MeshRows(
        id=np.array(ids),
        source=np.array(["3dpw"] * len(rec)),
        split=np.array([name] * len(rec)),
        betas=rec.betas,
        pose_body=rec.pose_body,
        gender=rec.gender,
    )


def iter_mesh_columns(
    rows: MeshRows, models: dict[str, BodyModel], num_betas: int, chunk: int = 256
) -> Iterator[dict[str, object]]:
    """Mesh-shard columns (``vqhps.io.schemas.mesh_schema``) of ``rows``, ``chunk`` rows at a time."""
    for start in range(0, len(rows), chunk):
        part = rows.take(np.arange(start, min(start + chunk, len(rows))))
        verts = canonical_vertices(part.betas, part.pose_body, part.gender, models, num_betas)
        yield {
            "id": part.id.tolist(),
            "source": part.source.tolist(),
            "split": part.split.tolist(),
            "vertices": verts,
            "pose": list(part.pose_body.astype(np.float32)),
            "shape": list(part.betas[:, :num_betas].astype(np.float32)),
            "gender": [normalize_gender(g) for g in part.gender],
        }
