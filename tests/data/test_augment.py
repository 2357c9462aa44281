"""Tests of the crop / flip / rotation augmentation: geometric consistency between image, keypoints, 3D."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vqhps.data import augment
from vqhps.data.warp_reference import reference_warp_affine


def _blob_image(h: int, w: int, x: int, y: int) -> np.ndarray:
    image = np.zeros((h, w, 3), dtype=np.uint8)
    image[y, x] = 255
    return image


def _brightest(image: np.ndarray) -> np.ndarray:
    """Intensity-weighted centroid in continuous pixel coordinates (x, y)."""
    weight = image[..., 0].astype(np.float64)
    ys, xs = np.mgrid[: image.shape[0], : image.shape[1]]
    return np.array([(weight * (xs + 0.5)).sum(), (weight * (ys + 0.5)).sum()]) / weight.sum()


def test_crop_maps_bbox_centre_to_image_centre() -> None:
    center, box = augment.bbox_to_box(np.array([40.0, 10.0, 80.0, 90.0]), rescale=1.2)
    assert box == pytest.approx(96.0)
    for rot in (0.0, 37.0):
        affine = augment.crop_affine(center, box, 64, rot)
        kp = augment.transform_keypoints(np.array([[*center, 1.0]]), affine, 64)
        np.testing.assert_allclose(kp[0, :2], 0.0, atol=1e-6)
    # The box corners land on the crop border (no rotation).
    affine = augment.crop_affine(center, box, 64)
    corner = augment.transform_keypoints(np.array([[center[0] - 48, center[1] + 48]]), affine, 64)
    np.testing.assert_allclose(corner[0], [-1.0, 1.0], atol=1e-6)


@pytest.mark.parametrize("rot", [0.0, 25.0, -50.0])
def test_warped_image_and_keypoints_agree(rot: float) -> None:
    # A single bright pixel in the source must land where its keypoint is mapped (half-pixel accurate).
    image = _blob_image(120, 100, x=57, y=40)
    center, box = np.array([50.0, 45.0]), 60.0
    affine = augment.crop_affine(center, box, 96, rot)
    crop = augment.warp_affine(image, affine, 96)
    kp = augment.transform_keypoints(np.array([[57.5, 40.5, 1.0]]), affine, 96)
    expected_px = (kp[0, :2] + 1) / 2 * 96
    np.testing.assert_allclose(_brightest(crop), expected_px, atol=0.15)


def test_rotation_direction_is_counter_clockwise_on_screen() -> None:
    affine = augment.crop_affine(np.array([50.0, 50.0]), 100.0, 100, 90.0)
    kp = augment.transform_keypoints(np.array([[75.0, 50.0]]), affine, 100)  # right of centre
    np.testing.assert_allclose(kp[0], [0.0, -0.5], atol=1e-6)  # goes up (y down is positive)


def test_flip_twice_is_identity_and_keypoints_permuted() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (8, 10, 3), dtype=np.uint8)
    np.testing.assert_array_equal(augment.flip_image(augment.flip_image(image)), image)
    kp = rng.uniform(-1, 1, (17, 3)).astype(np.float32)
    perm = augment.H36M17_FLIP_PERMUTATION
    once = augment.flip_keypoints(kp, perm)
    np.testing.assert_allclose(augment.flip_keypoints(once, perm), kp)
    # Left hip (4) of the flipped body is the mirrored right hip (1) of the original.
    np.testing.assert_allclose(once[4], [-kp[1, 0], kp[1, 1], kp[1, 2]])
    np.testing.assert_allclose(once[0], [-kp[0, 0], kp[0, 1], kp[0, 2]])  # pelvis stays
    rot = augment.flip_global_rotation(augment.flip_global_rotation(np.eye(3) * [1, -1, -1]))
    np.testing.assert_allclose(rot, np.diag([1.0, -1.0, -1.0]), atol=1e-12)


def test_flip_does_not_modify_input() -> None:
    kp = np.ones((24, 3), dtype=np.float32)
    augment.flip_keypoints(kp, augment.SMPL24_FLIP_PERMUTATION)
    assert np.all(kp == 1.0)


@pytest.mark.parametrize("perm", [augment.H36M17_FLIP_PERMUTATION, augment.SMPL24_FLIP_PERMUTATION])
def test_flip_permutations_are_involutions(perm: np.ndarray) -> None:
    np.testing.assert_array_equal(perm[perm], np.arange(len(perm)))
    assert sorted(perm) == list(range(len(perm)))


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q * np.linalg.det(q)


def test_flip_of_global_rotation_matches_mirrored_points() -> None:
    """Mirrored canonical mesh posed by the flipped rotation projects onto the flipped 2D keypoints."""
    rng = np.random.default_rng(1)
    canonical = rng.normal(size=(6, 3))
    canonical[3:] = canonical[:3] * [-1, 1, 1]  # vertices 3..5 mirror 0..2 (left/right pairs)
    perm = np.array([3, 4, 5, 0, 1, 2])
    rot = _random_rotation(rng)
    flipped_rot = augment.flip_global_rotation(rot)
    assert np.linalg.det(flipped_rot) == pytest.approx(1.0)
    np.testing.assert_allclose(flipped_rot.T @ flipped_rot, np.eye(3), atol=1e-12)
    projected = (canonical @ rot.T)[:, :2]
    mirrored = augment.mirror_vertices(canonical, perm)
    projected_flipped = (mirrored @ flipped_rot.T)[:, :2]
    kp = np.concatenate([projected, np.ones((6, 1))], axis=1)
    np.testing.assert_allclose(projected_flipped, augment.flip_keypoints(kp, perm)[:, :2], atol=1e-12)


def test_camera_axis_rotation_matches_keypoint_rotation() -> None:
    rng = np.random.default_rng(2)
    points = rng.normal(size=(5, 3))
    rz = augment.rotation_about_camera_axis(33.0)
    affine = augment.crop_affine(np.zeros(2), 2.0, 2, 33.0)  # identity scale, crop centre at (1, 1)
    kp = augment.transform_keypoints(points[:, :2], affine, 2)
    np.testing.assert_allclose(kp, (points @ rz.T)[:, :2], atol=1e-6)


def test_mirror_vertices_twice_is_identity() -> None:
    rng = np.random.default_rng(3)
    verts = rng.normal(size=(2, 4, 3))
    perm = np.array([1, 0, 2, 3])
    once = augment.mirror_vertices(verts, perm)
    np.testing.assert_allclose(augment.mirror_vertices(once, perm), verts)
    np.testing.assert_allclose(once[:, 2], verts[:, 2] * [-1, 1, 1])


def test_normalize_image_imagenet() -> None:
    image = np.zeros((2, 2, 3), dtype=np.uint8)
    image[..., 1] = 255
    out = augment.normalize_image(image)
    assert out.shape == (3, 2, 2) and out.dtype == np.float32
    np.testing.assert_allclose(
        out[:, 0, 0], (np.array([0, 1, 0]) - augment.IMAGENET_MEAN) / augment.IMAGENET_STD, rtol=1e-6
    )


def test_sample_augmentation_ranges() -> None:
    rng = np.random.default_rng(4)
    draws = [augment.sample_augmentation(rng) for _ in range(400)]
    flips, rots, scales = map(np.array, zip(*draws, strict=True))
    assert 0.35 < flips.mean() < 0.65
    assert 0.25 < (rots != 0).mean() < 0.55 and np.abs(rots).max() <= 60.0
    assert scales.min() >= 0.75 and scales.max() <= 1.25


def test_degenerate_bbox_rejected() -> None:
    with pytest.raises(ValueError, match="degenerate bbox"):
        augment.bbox_to_box(np.array([5.0, 5.0, 5.0, 9.0]))


def test_vertex_mirror_permutation_recovers_pairs() -> None:
    rng = np.random.default_rng(5)
    half = rng.uniform(0.05, 1.0, (20, 3))
    midline = rng.normal(size=(3, 3)) * [0, 1, 1]
    template = np.concatenate([half, half * [-1, 1, 1], midline])
    order = rng.permutation(len(template))
    template = template[order]
    perm = augment.vertex_mirror_permutation(template, chunk=7)
    np.testing.assert_array_equal(perm[perm], np.arange(len(template)))
    np.testing.assert_allclose(augment.mirror_vertices(template, perm), template, atol=1e-12)
    with pytest.raises(ValueError, match="not left/right symmetric"):
        augment.vertex_mirror_permutation(template + [0.1, 0, 0])


def test_unit_scale_crop_copies_pixels_and_pads_black() -> None:
    rng = np.random.default_rng(6)
    image = rng.integers(0, 255, (50, 60, 3), dtype=np.uint8)
    crop = augment.warp_affine(image, augment.crop_affine(np.array([30.0, 40.0]), 32.0, 32), 32)
    # Crop pixel (i, j) is source pixel (i + 24, j + 14); source rows >= 50 are outside -> black.
    np.testing.assert_array_equal(crop[:26], image[24:50, 14:46])
    assert np.all(crop[26:] == 0)


def _paper_affines(rng: np.random.Generator, n: int, height: int, width: int) -> list[np.ndarray]:
    """Crop maps as the training loader draws them: paper rotation/scale, boxes partly off the image."""
    affines = []
    for _ in range(n):
        _, rot, scale = augment.sample_augmentation(rng, rot_prob=0.8)
        x0, y0 = rng.uniform(-0.2 * width, 0.5 * width), rng.uniform(-0.2 * height, 0.5 * height)
        bbox = [x0, y0, x0 + rng.uniform(0.3, 0.9) * width, y0 + rng.uniform(0.3, 0.9) * height]
        center, box = augment.bbox_to_box(np.array(bbox), 1.2)
        affines.append(augment.crop_affine(center, box * scale, 96, rot))
    return affines


@pytest.mark.parametrize("kind", ["noise", "stripes"])
def test_opencv_warp_matches_numpy_reference_within_one_grey_level(kind: str) -> None:
    # Noise and one-pixel stripes are the worst case for interpolation (full-range steps between taps).
    rng = np.random.default_rng(7)
    if kind == "noise":
        image = rng.integers(0, 256, (120, 90, 3), dtype=np.uint8)
    else:
        image = np.zeros((120, 90, 3), dtype=np.uint8)
        image[::2, :, 0], image[:, ::3, 1], image[5:40, 10:70, 2] = 255, 200, 255
    equal, outside = [], []
    for affine in _paper_affines(rng, 40, *image.shape[:2]):
        fast = augment.warp_affine(image, affine, 96).astype(np.int16)
        ref = reference_warp_affine(image, affine, 96).astype(np.int16)
        assert fast.shape == ref.shape == (96, 96, 3)
        assert np.abs(fast - ref).max() <= 1
        equal.append(np.mean(fast == ref))
        outside.append(np.mean(ref == 0))
    assert np.mean(equal) > 0.98  # off by one only where the exact value is near .5 (rounding)
    assert max(outside) > 0.2  # the draws did reach past the source border (black taps compared too)


def test_opencv_warp_float_and_single_channel_match_reference() -> None:
    rng = np.random.default_rng(8)
    image = rng.uniform(0, 1, (40, 50, 1)).astype(np.float32)
    for affine in _paper_affines(rng, 10, 40, 50):
        fast = augment.warp_affine(image, affine, 96)
        assert fast.shape == (96, 96, 1) and fast.dtype == np.float32
        np.testing.assert_allclose(fast, reference_warp_affine(image, affine, 96), atol=2e-3)
    with pytest.raises(ValueError, match="int64"):
        augment.warp_affine(image.astype(np.int64), affine, 8)


class _ThreadsSeen(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int) -> int:
        import cv2

        return cv2.getNumThreads()


def test_loader_workers_warp_with_one_opencv_thread() -> None:
    loader = torch.utils.data.DataLoader(_ThreadsSeen(), num_workers=1, batch_size=None)
    assert [int(n) for n in loader] == [1]


def test_normalize_image_table_is_bit_identical_to_the_formula() -> None:
    rng = np.random.default_rng(9)
    image = rng.integers(0, 256, (30, 20, 3), dtype=np.uint8)[:, ::-1]  # a non-contiguous view too
    x = image.astype(np.float32) / 255.0
    expected = ((x - augment.IMAGENET_MEAN) / augment.IMAGENET_STD).transpose(2, 0, 1)
    out = augment.normalize_image(image)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(augment.normalize_image(image.astype(np.float32)), expected)
