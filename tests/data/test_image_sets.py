"""Image-set adapter: joins images with their GT meshes, filters sources, draws seeded scarce subsets."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
import image_fixtures as fx  # noqa: E402

from vqhps.data.image_sets import load_image_split, subset_indices  # noqa: E402
from vqhps.io.shards import ShardSet, load_vertices  # noqa: E402


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
