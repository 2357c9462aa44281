"""Mesh-VQ-VAE meshes of the paper: every k-th frame of each motion file, per-file splits, 3DPW val/test."""

import numpy as np
import pytest
import torch

from vqhps.data.motion_sampler import FileFrameSampler, motion_row_id
from vqhps.ingest import amass, mesh_sets


@pytest.fixture(scope="module")
def smplh(mini_root):
    return mesh_sets.load_models(mini_root, "smplh")


def test_motion_rows_keep_every_kth_frame_of_every_file(mini_root):
    everything = {"train": 1, "val": 0, "test": 0}
    rows = mesh_sets.motion_mesh_rows(mini_root, "bedlam_animations", (), 4, everything, 5)
    files = amass.motion_files(mini_root / "bedlam_animations")
    assert len(rows) == 6 and set(rows.split) == {"train"} and set(rows.source) == {"bedlam_animations"}
    assert list(rows.gender) == ["male", "male", "female", "female", "neutral", "neutral"]  # b"male" too
    for i, f in enumerate(files):  # 6 frames each: the stored frames are 0 and 4, in file order
        motion = amass.load_motion(f)
        assert np.array_equal(rows.pose_body[2 * i : 2 * i + 2], motion.poses[[0, 4], 3:66])
        assert list(rows.id[2 * i : 2 * i + 2]) == [motion_row_id("bedlam_animations", i, t) for t in (0, 4)]
    every = mesh_sets.motion_mesh_rows(mini_root, "bedlam_animations", (), 1, everything, 5)
    assert len(every) == 18 and len(set(every.id)) == 18
    assert np.array_equal(every.pose_body[[0, 4, 6, 10, 12, 16]], rows.pose_body)
    assert FileFrameSampler(every.id).n_files == 3, "the ids name each row's file"


def test_amass_subsets_sources_and_per_file_split(mini_root):
    rows = mesh_sets.motion_mesh_rows(mini_root, "amass", (), 2, {"train": 0.5, "val": 0.5, "test": 0}, 0)
    assert sorted(set(rows.source)) == ["amass/CMU", "amass/KIT"] and len(rows) == 6  # shape.npz skipped
    for src in ("amass/CMU", "amass/KIT"):
        assert len(set(rows.split[rows.source == src])) == 1, "all frames of a file share its split"
    assert sorted(set(rows.split)) == ["train", "val"]
    only = mesh_sets.motion_mesh_rows(mini_root, "amass", ("KIT",), 1, {"train": 1, "val": 0, "test": 0}, 0)
    assert list(only.source) == ["amass/KIT"] * 5  # every frame of its one file
    with pytest.raises(FileNotFoundError, match="no motion"):
        mesh_sets.motion_mesh_rows(mini_root, "amass", ("SFU",), 1, {"train": 1, "val": 0, "test": 0}, 0)


def test_canonical_vertices_keep_order_and_use_each_gender(smplh):
    rng = np.random.default_rng(0)
    betas, pose = rng.normal(0, 1, (4, 16)).astype(np.float32), rng.normal(0, 0.3, (4, 63)).astype(np.float32)
    gender = np.array(["f", "male", "neutral", "female"])
    verts = mesh_sets.canonical_vertices(betas, pose, gender, smplh, num_betas=16)
    assert verts.shape == (4, 6890, 3) and verts.dtype == np.float32
    assert np.abs(verts.mean(1)).max() < 1e-5
    for i, g in enumerate(("female", "male", "neutral", "female")):
        ref = smplh[g].smplh_body(
            torch.as_tensor(betas[i : i + 1]), torch.as_tensor(pose[i : i + 1]), center=True
        )
        assert np.allclose(verts[i], ref.vertices[0].numpy(), atol=1e-6), i
    ten = mesh_sets.canonical_vertices(betas, pose, gender, smplh, num_betas=10)
    assert not np.allclose(ten, verts, atol=1e-4), "betas 10..15 must matter when num_betas=16"


def test_threedpw_eval_rows(mini_root, smplh):
    val = mesh_sets.threedpw_mesh_rows(mini_root, "validation")
    assert set(val.split) == {"val"} and set(val.source) == {"3dpw"} and len(val) == 7
    strided = mesh_sets.threedpw_mesh_rows(mini_root, "test", frame_stride=2)
    assert len(strided) == 3 and all(i.endswith(("f00000", "f00002")) for i in strided.id)
    cols = list(mesh_sets.iter_mesh_columns(val, smplh, num_betas=10, chunk=4))
    assert [len(c["id"]) for c in cols] == [4, 3] and sum(
        cols[0]["gender"].count(g) for g in ("male", "female")
    ) == 4
    assert len(cols[0]["shape"][0]) == 10 and len(cols[0]["pose"][0]) == 63
