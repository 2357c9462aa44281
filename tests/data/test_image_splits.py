"""Image-set adapter: joins images with their GT meshes, filters sources, draws seeded scarce subsets."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import image_fixtures as fx
from vqhps.data.image_splits import load_image_split, subset_indices
from vqhps.io.shards import ShardSet, load_vertices


def test_subset_is_seeded_sized_and_nested():
    a = subset_indices(100, 0.1, seed=4)
    assert len(a) == 10 and np.all(np.diff(a) > 0)
    assert np.array_equal(a, subset_indices(100, 0.1, seed=4)), "same seed, same subset"
    assert not np.array_equal(a, subset_indices(100, 0.1, seed=5))
    assert set(a) <= set(subset_indices(100, 0.3, seed=4)), "a smaller fraction is inside a larger one"
    assert len(subset_indices(3, 0.05, seed=0)) == 1, "never empty"
    assert np.array_equal(subset_indices(7, 1.0, seed=0), np.arange(7))
    with pytest.raises(ValueError, match="fraction"):
        subset_indices(10, 0.0, seed=0)


def test_split_joins_meshes_and_filters_sources(tmp_path):
    images, meshes = fx.write_image_set(tmp_path, {"anny": 6, "coco": 4}, n_val=2)
    full = load_image_split(str(images), str(meshes), "train")
    assert len(full) == 10 and full.meshes.shape == (10, fx.N_VERTS, 3)
    gt = load_vertices(ShardSet(meshes, "meshes"), "train").numpy()
    for s in full.samples:
        i = int(s["id"][3:])  # img<i> shows mesh m<i>; its pixels and keypoints hold i
        assert np.array_equal(s["canonical_verts"], gt[s["mesh_id"]])
        assert s["keypoints2d"].shape == (17, 3) and s["keypoints2d"][0, 0] == i
        assert s["global_rot"].shape == (3, 3) and s["bbox"].tolist() == [5, 5, 35, 35]
        assert isinstance(s["image"], bytes)
    coco = load_image_split(str(images), str(meshes), "train", sources=["coco"])
    assert [s["source"] for s in coco.samples] == ["coco"] * 4
    scarce = load_image_split(str(images), str(meshes), "train", sources=["anny"], fraction=0.5, seed=1)
    again = load_image_split(str(images), str(meshes), "train", sources=["anny"], fraction=0.5, seed=1)
    assert len(scarce) == 3 and [s["id"] for s in scarce.samples] == [s["id"] for s in again.samples]
    assert {s["source"] for s in scarce.samples} == {"anny"}
    val = load_image_split(str(images), str(meshes), "val", max_images=1)
    assert len(val) == 1
    with pytest.raises(ValueError, match="no image has a source"):
        load_image_split(str(images), str(meshes), "train", sources=["3dpw"])


def test_split_joins_the_full_pose_gt_by_mesh_id(tmp_path):
    from vqhps.data.image_splits import FULL_POSE_GT_DIR
    from vqhps.io.schemas import MESHES
    from vqhps.io.shards import ShardWriter

    images, meshes = fx.write_image_set(tmp_path, {"anny": 3}, n_val=2)
    val_ids = ShardSet(meshes, "meshes").read("val", ["id"]).column("id").to_pylist()

    def write_full(folder, ids):
        w = ShardWriter(folder, MESHES, fx.N_VERTS, shard_size=5, row_group_size=5)
        n = len(ids)
        verts = np.arange(n * fx.N_VERTS * 3, dtype=np.float32).reshape(n, -1) + 100 * np.arange(n)[:, None]
        verts = verts.astype(np.float32)
        w.add({"id": ids, "source": ["anny"] * n, "split": ["val"] * n, "vertices": verts,
               "pose": [np.zeros(69)] * n, "shape": [np.zeros(2)] * n,
               "gender": ["neutral"] * n})  # fmt: skip
        w.close()
        return {i: v.reshape(fx.N_VERTS, 3) for i, v in zip(ids, verts, strict=True)}

    assert load_image_split(str(images), str(meshes), "val").full_pose_gt() is None  # no such set
    by_id = write_full(meshes / FULL_POSE_GT_DIR, val_ids[::-1])  # another row order than meshes/
    val = load_image_split(str(images), str(meshes), "val")
    mesh_ids = ShardSet(meshes, "meshes").read("val", ["id"]).column("id").to_pylist()
    gt = val.full_pose_gt()
    assert val.has_full_pose_gt and len(gt) == len(val) == 2
    for s, verts in zip(val.samples, gt, strict=True):
        assert np.array_equal(verts, by_id[mesh_ids[s["mesh_id"]]])
        assert not np.array_equal(verts, s["canonical_verts"])
    assert load_image_split(str(images), str(meshes), "train").full_pose_gt() is None  # no train rows
    write_full(meshes / FULL_POSE_GT_DIR, val_ids[:1])  # one val mesh without it
    with pytest.raises(ValueError, match="no full-pose GT for mesh"):
        load_image_split(str(images), str(meshes), "val")
