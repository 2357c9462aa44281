"""Tiny format-faithful fixtures of every real dataset.

CLI: ``PYTHONPATH=tests python -m helpers.realdata_fixtures <out_dir>``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from helpers.body_fixtures import (
    SMPL_PARENTS,
    SMPLH_PARENTS,
    random_body_arrays,
    write_smpl_pkl,
    write_smplh_npz,
)
from helpers.py2_pickle import FakeChumpyCh, dump_py2

__all__ = [
    "evil_pickle_bytes",
    "write_threedpw_sequence",
    "write_emdb_sequence",
    "write_amass_motion",
    "write_label_file",
    "write_fixture_root",
    "BAD_FILE_KINDS",
    "write_bad_file",
    "write_bad_body_model",
    "mismatch_threedpw_frames",
]

GENDERS = ("neutral", "male", "female")
LABEL_SETS = ("coco", "mpii", "h36m_train", "mpi_inf_3dhp_train")


class _Payload:
    """Pickles as ``os.system(command)``: what a malicious dataset file would contain."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def evil_pickle_bytes(marker: str | os.PathLike) -> bytes:
    """A protocol-2 pickle (a dict, like a dataset file) that runs ``touch marker`` when plainly unpickled."""
    return pickle.dumps({"sequence": "x", "poses": _Payload(f"touch {marker}")}, protocol=2)


def write_hostile_pickle(path: Path, marker: str | os.PathLike) -> Path:
    """A dataset-like pickle that runs ``touch marker`` when plainly unpickled (:func:`evil_pickle_bytes`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(evil_pickle_bytes(marker))
    return path


def write_hostile_npz(path: Path, marker: str | os.PathLike) -> Path:
    """An npz whose object member ``gender`` runs ``touch marker`` when loaded with ``allow_pickle=True``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:  # np.savez would append .npz to a name without it
        np.savez(fh, poses=np.zeros((2, 156)), gender=np.array([_Payload(f"touch {marker}")], dtype=object))
    return path


def write_bad_body_model(path: Path, kind: str, seed: int = 0) -> Path:
    """A body model in the official layout (``.pkl``: SMPL chumpy pickle, ``.npz``: SMPL+H) with one defect.

    Args:
        kind: ``vertices_6000`` (a 6,000-vertex mesh), ``transposed_regressor`` (J_regressor stored (V, J)),
            ``betas_8`` (only 8 shape components).
    """
    smpl = path.suffix == ".pkl"
    parents = SMPL_PARENTS if smpl else SMPLH_PARENTS
    arrays = random_body_arrays(
        parents,
        8 if kind == "betas_8" else 10,
        num_verts=6000 if kind == "vertices_6000" else 6890,
        seed=seed,
    )
    if kind == "transposed_regressor":
        arrays["J_regressor"] = arrays["J_regressor"].T.copy()
    elif kind not in ("vertices_6000", "betas_8"):
        raise ValueError(f"unknown body-model defect {kind!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if smpl:
        return dump_py2({**arrays, "shapedirs": FakeChumpyCh(arrays["shapedirs"])}, path)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def mismatch_threedpw_frames(path: Path, field: str, delta: int = -1) -> Path:
    """Rewrite a 3DPW fixture so that ``field`` (of person 0, or ``cam_poses``) has ``delta`` frames more."""
    data = pickle.loads(path.read_bytes(), encoding="latin1")
    value = data[field] if field == "cam_poses" else data[field][0]
    value = value[:delta] if delta < 0 else np.concatenate([value, value[:delta]])
    if field == "cam_poses":
        data[field] = value
    else:
        data[field][0] = value
    return dump_py2(data, path)


def _damage(path: Path, kind: str) -> Path:
    data = path.read_bytes() if path.is_file() else b""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"" if kind == "empty" else data[: max(1, len(data) // 2)])
    return path


# Bad look-alikes of the downloads: kind -> writer(path, marker) (the marker is what a payload would create).
BAD_FILE_KINDS = {
    "hostile_pickle": lambda path, marker: write_hostile_pickle(path, marker),
    "hostile_npz": write_hostile_npz,
    "empty": lambda path, marker: _damage(path, "empty"),
    "truncated": lambda path, marker: _damage(path, "truncated"),
    "vertices_6000": lambda path, marker: write_bad_body_model(path, "vertices_6000"),
    "transposed_regressor": lambda path, marker: write_bad_body_model(path, "transposed_regressor"),
    "betas_8": lambda path, marker: write_bad_body_model(path, "betas_8"),
    "poses2d_short": lambda path, marker: mismatch_threedpw_frames(path, "poses2d"),
    "cam_poses_short": lambda path, marker: mismatch_threedpw_frames(path, "cam_poses"),
    "campose_valid_long": lambda path, marker: mismatch_threedpw_frames(path, "campose_valid", 1),
}


def write_bad_file(path: str | os.PathLike, kind: str, marker: str | os.PathLike) -> Path:
    """Replace ``path`` (a symlink or a file) by a bad look-alike of kind ``kind`` (:data:`BAD_FILE_KINDS`).

    A symlink is resolved to a private copy first, so a linked fixture root is never damaged.
    """
    path = Path(path)
    if path.is_symlink():
        data = path.read_bytes()
        path.unlink()
        path.write_bytes(data)
    BAD_FILE_KINDS[kind](path, marker)
    return path


def _jpg(path: Path, rng: np.random.Generator) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(path, quality=50)


def _rotations(rng: np.random.Generator, n: int) -> np.ndarray:
    q = rng.normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
            np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
            np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
        ],
        axis=1,
    )


def _keypoints(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """(n, k, 3) pixel keypoints around a wandering person box, confidences in [0, 1]."""
    centre = np.array([960.0, 540.0]) + np.cumsum(rng.normal(0, 5, (n, 2)), axis=0)
    xy = centre[:, None] + rng.normal(0, 120, (n, k, 2))
    return np.concatenate([xy, rng.uniform(0, 1, (n, k, 1))], axis=-1)


def write_threedpw_sequence(path: Path, n_frames: int = 4, n_people: int = 2, seed: int = 0) -> Path:
    """A 3DPW ``sequenceFiles/<split>/<seq>.pkl`` as the originals: Python-2 protocol-2 pickle, latin-1 str,
    per-person lists, ``poses2d`` (N, 3, 18), ``genders`` 'm'/'f', one frame without a valid camera pose."""
    rng = np.random.default_rng(seed)
    cam = np.tile(np.eye(4), (n_frames, 1, 1))
    cam[:, :3, :3] = _rotations(rng, n_frames)
    cam[:, :3, 3] = rng.normal(0, 1, (n_frames, 3))
    valid = [np.ones(n_frames, dtype=bool) for _ in range(n_people)]
    valid[-1][0] = False
    data = {
        "sequence": path.stem,
        "genders": ["m", "f", "m"][:n_people],
        "betas": [rng.normal(0, 1, 10) for _ in range(n_people)],
        "betas_clothed": [rng.normal(0, 1, 10) for _ in range(n_people)],
        "poses": [rng.normal(0, 0.3, (n_frames, 72)) for _ in range(n_people)],
        "trans": [rng.normal(0, 1, (n_frames, 3)) for _ in range(n_people)],
        "poses_60Hz": [rng.normal(0, 0.3, (2 * n_frames, 72)) for _ in range(n_people)],
        "trans_60Hz": [rng.normal(0, 1, (2 * n_frames, 3)) for _ in range(n_people)],
        "img_frame_ids": np.arange(n_frames),
        "poses2d": [_keypoints(rng, n_frames, 18).transpose(0, 2, 1) for _ in range(n_people)],
        "jointPositions": [rng.normal(0, 1, (n_frames, 72)) for _ in range(n_people)],
        "cam_poses": cam,
        "cam_intrinsics": np.array([[1961.0, 0, 540], [0, 1969.0, 960], [0, 0, 1]]),
        "campose_valid": valid,
    }
    return dump_py2(data, path)


def write_emdb_sequence(
    path: Path,
    n_frames: int = 3,
    emdb1: bool = True,
    emdb2: bool = False,
    gender: str = "male",
    seed: int = 0,
) -> Path:
    """An EMDB ``P?/<seq>/P?_<seq>_data.pkl``: nested dicts, one bad frame, one invalid box."""
    rng = np.random.default_rng(seed)
    ext = np.tile(np.eye(4), (n_frames, 1, 1))
    ext[:, :3, :3] = _rotations(rng, n_frames)
    lo = rng.uniform(100, 300, (n_frames, 2))
    good = np.ones(n_frames, dtype=bool)
    good[0] = False
    data = {
        "gender": gender,
        "name": path.parent.name,
        "emdb1": emdb1,
        "emdb2": emdb2,
        "n_frames": n_frames,
        "good_frames_mask": good,
        "camera": {"intrinsics": np.eye(3), "extrinsics": ext, "width": 1440, "height": 1920},
        "smpl": {
            "poses_root": rng.normal(0, 0.5, (n_frames, 3)),
            "poses_body": rng.normal(0, 0.3, (n_frames, 69)),
            "trans": rng.normal(0, 1, (n_frames, 3)),
            "betas": rng.normal(0, 1, 10),
        },
        "kp2d": rng.uniform(0, 1000, (n_frames, 24, 2)),
        "bboxes": {
            "bboxes": np.concatenate([lo, lo + rng.uniform(100, 400, (n_frames, 2))], 1),
            "invalid_idxs": np.array([n_frames - 1]),
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(data, protocol=4))  # EMDB pickles are Python-3 era
    for t in range(n_frames):
        _jpg(path.parent / "images" / f"{t:05d}.jpg", rng)
    return path


def write_amass_motion(path: Path, n_frames: int = 5, gender: str | bytes = "female", seed: int = 0) -> Path:
    """An AMASS SMPL+H G ``*_poses.npz``: poses (N, 156), betas (16,), 0-d gender (str or bytes)."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        poses=rng.normal(0, 0.3, (n_frames, 156)),
        betas=rng.normal(0, 1, 16),
        trans=rng.normal(0, 1, (n_frames, 3)),
        gender=np.array(gender),
        mocap_framerate=np.array(120.0),
        dmpls=np.zeros((n_frames, 8)),
    )
    return path


def write_label_file(folder: Path, name: str, n: int = 3, with_gender: bool = False, seed: int = 0) -> Path:
    """A BEDLAM/CLIFF label ``<folder>/<name>.npz`` plus its images under ``<folder>/images/``."""
    rng = np.random.default_rng(seed)
    imgname = np.array([f"images/{name}_{i:06d}.jpg" for i in range(n)])
    arrays = {
        "imgname": imgname,
        "center": rng.uniform(100, 500, (n, 2)),
        "scale": rng.uniform(0.5, 2, n),
        "pose_cam": rng.normal(0, 0.3, (n, 72)),
        "shape": rng.normal(0, 1, (n, 11)),
        "part": _keypoints(rng, n, 24),
    }
    if with_gender:
        arrays["gender"] = np.array(["m", "f", "m"] * n)[:n]
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / f"{name}.npz", **arrays)
    for img in imgname:
        _jpg(folder / img, rng)
    return folder / f"{name}.npz"


def _connection_file(n_out: int, n_in: int) -> np.ndarray:
    """MeshConvolution layout ``[n, id0, d0, pad_id, -1]`` per output vertex (one neighbour each)."""
    rows = np.full((n_out, 5), -1, dtype=np.int32)
    rows[:, 0] = 1
    rows[:, 1] = np.arange(n_out) * n_in // n_out
    rows[:, 2] = 0
    rows[:, 3] = n_in
    return rows


def write_connection_files(folder: Path) -> Path:
    """MeshConvolution-format ``_pool{i}``/``_unpool{i}.npy`` of the medium hierarchy's point counts
    (6890 -> 1925 -> 400 -> 54), one neighbour per point: the layout, not the real neighbourhoods."""
    sizes = [6890, 6890, 1925, 1925, 400, 400, 54, 54]
    folder.mkdir(parents=True, exist_ok=True)
    for level in range(7):
        np.save(folder / f"_pool{level}.npy", _connection_file(sizes[level + 1], sizes[level]))
        np.save(folder / f"_unpool{level}.npy", _connection_file(sizes[level], sizes[level + 1]))
    return folder


BEDLAM_ANIMATION_FRAMES = (4, 9, 20)  # frames of the fixture root's three BEDLAM animation files


def write_fixture_root(out: str | os.PathLike, amass_subsets: tuple[str, ...] | None = None) -> dict:
    """Write a data root that passes ``check_datasets`` for every manifest with its default counts.

    Returns:
        The ``options`` dict the root satisfies (pass it to ``check_datasets``).
    """
    from vqhps.datacheck.manifests import DEFAULT_AMASS_SUBSETS

    out = Path(out)
    rng = np.random.default_rng(0)
    subsets = tuple(amass_subsets or DEFAULT_AMASS_SUBSETS)
    for i, g in enumerate(GENDERS):
        write_smpl_pkl(out / "body_models" / "smpl" / f"SMPL_{g.upper()}.pkl", seed=10 + i)
        write_smplh_npz(out / "body_models" / "smplh" / g / "model.npz", seed=20 + i)
    reg = np.zeros((17, 6890))  # each H36M joint = mean of 8 random vertices, like the real sparse regressor
    for j in range(17):
        reg[j, rng.choice(6890, 8, replace=False)] = 1.0 / 8
    np.save(out / "body_models" / "J_regressor_h36m.npy", reg)
    for s_i, subset in enumerate(subsets):
        for subj in range(2):
            g = (b"male", "female", "neutral")[(s_i + subj) % 3]
            write_amass_motion(
                out / "amass" / subset / f"s{subj}" / f"motion{subj}_poses.npz",
                gender=g,
                seed=s_i * 10 + subj,
            )
        np.savez(
            out / "amass" / subset / "s0" / "shape.npz", betas=rng.normal(0, 1, 16), gender=np.array("male")
        )
    for i, n_frames in enumerate(BEDLAM_ANIMATION_FRAMES):  # lengths differ: file-then-frame sampling matters
        write_amass_motion(
            out / "bedlam_animations" / f"seq{i:03d}" / "motion.npz",
            n_frames=n_frames,
            gender="neutral",
            seed=100 + i,
        )
    for split, n in (("train", 24), ("validation", 12), ("test", 24)):
        for j in range(n):
            seq = f"{split}_seq_{j:02d}"
            write_threedpw_sequence(
                out / "3dpw" / "sequenceFiles" / split / f"{seq}.pkl", seed=hash((split, j)) % 2**31
            )
            for t in range(4):
                _jpg(out / "3dpw" / "imageFiles" / seq / f"image_{t:05d}.jpg", rng)
    for k in range(81):
        subj = f"P{k % 10}"
        seq = f"{k:02d}_sequence"
        write_emdb_sequence(
            out / "emdb" / subj / seq / f"{subj}_{seq}_data.pkl",
            emdb1=k < 17,
            emdb2=k >= 17,
            gender=GENDERS[k % 3],
            seed=200 + k,
        )
    for i, name in enumerate(LABEL_SETS):
        write_label_file(out / "bedlam_real" / name, name, with_gender=(i == 0), seed=300 + i)
    import torch

    from helpers.release_fixtures import write_release_files

    (out / "weights").mkdir(parents=True, exist_ok=True)
    torch.save(
        {"final_layer.weight": torch.zeros(17, 48, 1, 1)}, out / "weights" / "pose_hrnet_w48_256x192.pth"
    )
    conn = write_connection_files(out / "mesh_connections" / "ConnectionMatrices")
    # Random weights in the release format (key set built from the project's models on these connections):
    # `python -m vqhps.models.released` accepts them, so evaluate's "VQ-HPS (released weights)" rows run
    # here too.
    write_release_files(out / "released", conn, seed=0)
    return {"amass": {"subsets": list(subsets)}}


def main(argv: list[str] | None = None) -> int:
    """CLI: write the fixture root, check it, print the options it satisfies as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out_dir", type=Path, help="folder to write the fixture data root into")
    parser.add_argument("--amass-subsets", nargs="*", default=None, help="AMASS subset folders to create")
    args = parser.parse_args(argv)
    options = write_fixture_root(args.out_dir, tuple(args.amass_subsets) if args.amass_subsets else None)
    from vqhps.datacheck import MANIFESTS, check_datasets

    report = check_datasets(list(MANIFESTS), args.out_dir, options)
    print(json.dumps({"data_root": str(args.out_dir), "datasets": list(MANIFESTS), "options": options}))
    if not report.ok:
        print(report.message(), file=sys.stderr)
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
