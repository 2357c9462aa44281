"""AMASS motion and BEDLAM/CLIFF label readers on format-faithful npz fixtures; canonical mesh conversion."""

import os

import numpy as np
import pytest
import torch

from helpers.body_fixtures import SMPLH_PARENTS, random_body_arrays
from helpers.realdata_fixtures import write_amass_motion, write_label_file
from vqhps.body.smpl import BodyModel
from vqhps.ingest import amass, bedlam, canonical_meshes
from vqhps.io.safe_pickle import UnsafePickleError


def test_motion_files_skip_shape_and_gender_bytes(tmp_path):
    write_amass_motion(tmp_path / "CMU" / "01" / "01_01_poses.npz", gender=b"male")
    write_amass_motion(tmp_path / "KIT" / "3" / "walk_poses.npz", gender="female")
    np.savez(tmp_path / "CMU" / "01" / "shape.npz", betas=np.zeros(16), gender=np.array("male"))
    files = amass.motion_files(tmp_path)
    assert [f.name for f in files] == ["01_01_poses.npz", "walk_poses.npz"]
    assert amass.motion_files(tmp_path, ["KIT"]) == files[1:]
    m = amass.load_motion(files[0])
    assert (
        m.gender == "male" and m.poses.shape == (5, 156) and m.betas.shape == (16,) and m.framerate == 120.0
    )
    sample = amass.strided_frames(files, frame_stride=2)  # 5 frames each: 0, 2, 4
    assert sample["pose_body"].shape == (6, 63) and list(sample["gender"]) == ["male"] * 3 + ["female"] * 3
    assert list(sample["frame"]) == [0, 2, 4, 0, 2, 4] and list(sample["file"]) == [0, 0, 0, 1, 1, 1]
    assert np.array_equal(sample["pose_body"][:3], m.poses[[0, 2, 4], 3:66])


def test_motion_with_pickled_payload_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    np.savez(
        tmp_path / "m.npz",
        poses=np.zeros((2, 156)),
        betas=np.zeros(16),
        gender=np.array([Evil()], dtype=object),
    )
    with pytest.raises(UnsafePickleError):
        amass.load_motion(tmp_path / "m.npz")
    assert not (tmp_path / "pwned").exists()


def test_label_file_reader(tmp_path):
    path = write_label_file(tmp_path / "coco", "coco", n=4, with_gender=True)
    raw = np.load(path)
    rec = bedlam.read_label_file(path)
    assert rec.dataset == "coco" and len(rec) == 4 and list(rec.gender[:2]) == ["male", "female"]
    assert np.allclose(rec.root_orient, raw["pose_cam"][:, :3]) and np.allclose(
        rec.pose_body, raw["pose_cam"][:, 3:66]
    )
    assert rec.betas.shape == (4, 10) and rec.keypoints_2d.shape == (4, 24, 3)
    assert (tmp_path / "coco" / rec.imgname[0]).is_file()
    path2 = write_label_file(tmp_path / "mpii", "mpii", n=2)
    assert set(bedlam.read_label_file(path2).gender) == {"neutral"}  # no gender key -> neutral


def test_canonical_meshes_use_each_gender_model():
    models = {g: BodyModel(random_body_arrays(SMPLH_PARENTS, 16, num_verts=300, seed=i), gender=g)
              for i, g in enumerate(["male", "female"])}  # fmt: skip
    rng = np.random.default_rng(0)
    betas, pose = rng.normal(size=(5, 16)), rng.normal(0, 0.3, (5, 63))
    gender = np.array(["m", "female", "male", "f", "m"])
    out = np.zeros((5, 300, 3), dtype=np.float32)
    for idx, verts in canonical_meshes(betas, pose, gender, models, batch_size=2):
        out[idx] = verts
    assert np.abs(out.mean(axis=1)).max() < 1e-5
    exp = (
        models["female"]
        .smplh_body(
            torch.tensor(betas[1:2, :10], dtype=torch.float32),
            torch.tensor(pose[1:2], dtype=torch.float32),
            center=True,
        )
        .vertices
    )
    assert np.allclose(out[1], exp[0].numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="neutral"):
        next(canonical_meshes(betas[:1], pose[:1], np.array(["neutral"]), models))


def test_label_file_with_pose_key_and_payload(tmp_path):
    rng = np.random.default_rng(0)
    base = dict(
        imgname=np.array(["a.jpg"]), center=np.zeros((1, 2)), scale=np.ones(1), shape=np.zeros((1, 10))
    )
    np.savez(tmp_path / "h36m.npz", pose=rng.normal(size=(1, 72)), part=np.zeros((1, 24, 3)), **base)
    rec = bedlam.read_label_file(tmp_path / "h36m.npz")
    assert np.allclose(rec.root_orient[0], np.load(tmp_path / "h36m.npz")["pose"][0, :3])

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    bad = dict(base, imgname=np.array([Evil()], dtype=object))
    np.savez(tmp_path / "bad.npz", pose=np.zeros((1, 72)), part=np.zeros((1, 24, 3)), **bad)
    with pytest.raises(UnsafePickleError):
        bedlam.read_label_file(tmp_path / "bad.npz")
    assert not (tmp_path / "pwned").exists()
