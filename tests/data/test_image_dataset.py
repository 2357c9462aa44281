"""Tests of the image crop dataset: decoding, crop geometry, flip policy for tokens and meshes."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from vqhps.data import augment
from vqhps.data.crop_config import PAPER_AUGMENT, CropConfig
from vqhps.data.image_dataset import ImageCropDataset


def _sample(rng: np.random.Generator, encoded: bool = False) -> dict:
    image = np.zeros((80, 60, 3), dtype=np.uint8)
    image[30, 20] = 255  # a marker at keypoint 0
    kp = np.concatenate([rng.uniform(10, 50, (17, 2)), np.ones((17, 1))], axis=1)
    kp[0, :2] = [20.5, 30.5]
    if encoded:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        image = buffer.getvalue()
    verts = rng.normal(size=(4, 3))
    return {
        "image": image,
        "bbox": np.array([5.0, 10.0, 55.0, 70.0]),
        "keypoints2d": kp,
        "global_rot": np.eye(3),
        "mesh_id": 7,
        "canonical_verts": verts,
        "tokens": np.array([1, 2, 3]),
        "tokens_mirrored": np.array([4, 5, 6]),
    }


def test_item_shapes_and_marker_position() -> None:
    rng = np.random.default_rng(0)
    ds = ImageCropDataset([_sample(rng, encoded=True)], CropConfig(size=64))
    item = ds[0]
    assert item["image"].shape == (3, 64, 64) and item["image"].dtype == torch.float32
    assert item["keypoints2d"].shape == (17, 3) and item["tokens"].tolist() == [1, 2, 3]
    assert item["mesh_id"].item() == 7 and not item["flipped"]
    # The marker pixel is brightest exactly where keypoint 0 is mapped.
    red = item["image"][0].numpy()
    y, x = np.unravel_index(red.argmax(), red.shape)
    expected = (item["keypoints2d"][0, :2].numpy() + 1) / 2 * 64
    assert abs(x + 0.5 - expected[0]) <= 1.0 and abs(y + 0.5 - expected[1]) <= 1.0


def test_png_bytes_and_array_give_same_item() -> None:
    a = ImageCropDataset([_sample(np.random.default_rng(1))], CropConfig(size=32))[0]
    b = ImageCropDataset([_sample(np.random.default_rng(1), encoded=True)], CropConfig(size=32))[0]
    torch.testing.assert_close(a["image"], b["image"])


def test_flipped_items_use_mirrored_targets() -> None:
    rng = np.random.default_rng(2)
    sample = _sample(rng)
    perm = np.array([1, 0, 2, 3])
    config = CropConfig(
        size=32,
        augment=replace(PAPER_AUGMENT, flip_prob=1.0, rot_prob=0.0, scale_std=0.0, photometric_prob=0.0),
    )
    item = ImageCropDataset([sample], config, vertex_permutation=perm)[0]
    plain = ImageCropDataset([sample], CropConfig(size=32))[0]
    assert item["flipped"]
    assert item["tokens"].tolist() == [4, 5, 6]
    expected = augment.mirror_vertices(sample["canonical_verts"], perm)
    np.testing.assert_allclose(item["canonical_verts"].numpy(), expected, rtol=1e-6)
    torch.testing.assert_close(item["image"], plain["image"].flip(-1))
    torch.testing.assert_close(item["global_rot"], torch.diag(torch.tensor([1.0, 1.0, 1.0])))
    kp = plain["keypoints2d"][augment.H36M17_FLIP_PERMUTATION]
    torch.testing.assert_close(item["keypoints2d"][:, 0], -kp[:, 0])


def test_flip_without_mirrored_tokens_is_refused() -> None:
    sample = _sample(np.random.default_rng(3))
    del sample["tokens_mirrored"]
    config = CropConfig(size=32, augment=replace(PAPER_AUGMENT, flip_prob=1.0))
    with pytest.raises(ValueError, match="tokens_mirrored"):
        ImageCropDataset([sample], config, vertex_permutation=np.arange(4))[0]


def test_augmentation_is_deterministic_per_epoch() -> None:
    samples = [_sample(np.random.default_rng(4)) for _ in range(3)]
    config = CropConfig(size=32, augment=replace(PAPER_AUGMENT, flip_prob=0.0, rot_prob=1.0))
    ds = ImageCropDataset(samples, config, seed=5)
    first = ds[1]["keypoints2d"]
    torch.testing.assert_close(ds[1]["keypoints2d"], first)
    ds.set_epoch(1)
    assert not torch.allclose(ds[1]["keypoints2d"], first)


def test_rotation_augmentation_rotates_global_rotation_with_keypoints() -> None:
    sample = _sample(np.random.default_rng(6))
    config = CropConfig(size=32, augment=replace(PAPER_AUGMENT, flip_prob=0.0, rot_prob=1.0, scale_std=0.0))
    item = ImageCropDataset([sample], config, seed=1)[0]
    plain = ImageCropDataset([sample], CropConfig(size=32))[0]
    rz = item["global_rot"].double()  # global_rot was identity, so this is the camera-axis rotation
    rotated = plain["keypoints2d"][:, :2].double() @ rz[:2, :2].T
    torch.testing.assert_close(item["keypoints2d"][:, :2].double(), rotated, atol=1e-5, rtol=0)
    assert not torch.allclose(rz, torch.eye(3, dtype=torch.float64))
