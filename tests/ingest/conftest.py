"""A small format-faithful data root shared by the image-set and mesh-set tests (built once per session)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vqhps.testing.body_fixtures import write_smpl_pkl, write_smplh_npz
from vqhps.testing.py2_pickle import dump_py2
from vqhps.testing.realdata_fixtures import (
    write_amass_motion,
    write_emdb_sequence,
    write_label_file,
    write_threedpw_sequence,
)

GENDERS = ("neutral", "male", "female")
INTRINSICS = np.array([[1000.0, 0.0, 540.0], [0.0, 1000.0, 960.0], [0.0, 0.0, 1.0]])


def _make_threedpw_visible(path: Path, rng: np.random.Generator) -> None:
    """Rewrite a fixture sequence so that its people stand 4-5 m in front of a world-aligned camera.

    Random fixtures put people behind the camera; here the projected joints land in the image, so the
    crop geometry can be checked end to end. Format and encoding stay those of the real files.
    """
    data = pickle.loads(path.read_bytes(), encoding="latin1")
    n = len(data["cam_poses"])
    cam = np.tile(np.eye(4), (n, 1, 1))
    cam[:, :3, 3] = [0.1, -0.2, 0.3]
    data["cam_poses"] = cam
    data["cam_intrinsics"] = INTRINSICS
    for p in range(len(data["poses"])):
        data["trans"][p] = np.array([[0.5 * p - 0.2, 0.0, 4.5]]) + rng.normal(0, 0.05, (n, 3))
        data["poses"][p][:, :3] = [np.pi, 0.0, 0.0]  # upright in a y-down camera frame
        # 2D detections around the projected body centre (what the box smoother consumes)
        centre = INTRINSICS[:2, :2] @ data["trans"][p][:, :2].T / 4.5 + INTRINSICS[:2, 2:3]
        kp = centre.T[:, :, None] + rng.normal(0, 60, (n, 2, 18))
        data["poses2d"][p] = np.concatenate([kp, np.ones((n, 1, 18))], axis=1)
    dump_py2(data, path)


def _jpg(path: Path, size=(64, 48)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), 128, np.uint8)).save(path)


def build_mini_root(root: Path) -> Path:
    """Body models, regressor, 3DPW (1 sequence per split), EMDB (1 EMDB-1 + 4 EMDB-2), coco, motions."""
    rng = np.random.default_rng(0)
    for i, g in enumerate(GENDERS):
        write_smpl_pkl(root / "body_models" / "smpl" / f"SMPL_{g.upper()}.pkl", seed=10 + i)
        write_smplh_npz(root / "body_models" / "smplh" / g / "model.npz", seed=20 + i)
    reg = np.zeros((17, 6890))
    for j in range(17):
        reg[j, rng.choice(6890, 8, replace=False)] = 1.0 / 8
    np.save(root / "body_models" / "J_regressor_h36m.npy", reg)
    for k, split in enumerate(("train", "validation", "test")):
        seq = f"{split}_seq_00"
        path = write_threedpw_sequence(
            root / "3dpw" / "sequenceFiles" / split / f"{seq}.pkl", n_frames=4, seed=k
        )
        _make_threedpw_visible(path, rng)
        for t in range(4):
            _jpg(root / "3dpw" / "imageFiles" / seq / f"image_{t:05d}.jpg", size=(1080, 1920))
    for k in range(5):
        subj, seq = f"P{k % 2}", f"{k:02d}_walk"
        write_emdb_sequence(
            root / "emdb" / subj / seq / f"{subj}_{seq}_data.pkl",
            n_frames=4,
            emdb1=k == 0,
            emdb2=k > 0,
            gender=GENDERS[k % 3],
            seed=50 + k,
        )
    write_label_file(root / "bedlam_real" / "coco", "coco", n=3, with_gender=True, seed=3)
    write_label_file(root / "bedlam_real" / "mpii", "mpii", n=2, seed=4)
    for i, g in enumerate((b"male", "female", "neutral")):
        write_amass_motion(
            root / "bedlam_animations" / f"seq{i}" / "motion.npz", n_frames=6, gender=g, seed=i
        )
    for i, subset in enumerate(("CMU", "KIT")):
        write_amass_motion(root / "amass" / subset / "s0" / "a_poses.npz", gender="male", seed=10 + i)
        np.savez(root / "amass" / subset / "s0" / "shape.npz", betas=np.zeros(16), gender=np.array("male"))
    return root


@pytest.fixture(scope="session")
def mini_root(tmp_path_factory) -> Path:
    return build_mini_root(tmp_path_factory.mktemp("mini_root"))
