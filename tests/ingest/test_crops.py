"""Crop geometry: the keypoint mapping, the resampled pixels and the crop intrinsics agree."""

import numpy as np
import pytest
from PIL import Image

from vqhps.ingest.crops import crop_and_encode, crop_boxes, crop_image, crop_intrinsics, to_crop_pixels
from vqhps.ingest.keypoints import project_points


def test_crop_boxes_follow_spin_convention():
    boxes = crop_boxes(np.array([[100.0, 50.0]]), np.array([1.5]))
    assert np.allclose(boxes, [[-50.0, -100.0, 300.0]])  # side = 200 * scale, centred
    with pytest.raises(ValueError, match="scale"):
        crop_boxes(np.array([[0.0, 0.0]]), np.array([0.0]))


@pytest.mark.parametrize("box", [(30.0, 20.0, 100.0), (-40.5, 10.25, 250.0), (55.3, 61.7, 37.0)])
def test_bright_pixel_lands_where_the_keypoint_mapping_says(box):
    img = np.zeros((200, 160, 3), np.uint8)
    u, v = 70, 90  # pixel (column 70, row 90); its centre is at continuous (70.5, 90.5)
    img[v - 1 : v + 2, u - 1 : u + 2] = 255
    crop = np.asarray(crop_image(Image.fromarray(img), np.array(box), 64)).astype(float).sum(-1)
    want = to_crop_pixels(np.array([[[u + 0.5, v + 0.5]]]), np.array([box]), 64)[0, 0]
    ys, xs = np.mgrid[: crop.shape[0], : crop.shape[1]]
    centroid = np.array([(xs * crop).sum(), (ys * crop).sum()]) / crop.sum() + 0.5  # continuous coordinates
    assert np.allclose(centroid, want, atol=0.35 + 32 / box[2])


def test_outside_of_image_is_black_and_size_is_crop_size(tmp_path):
    Image.fromarray(np.full((20, 20, 3), 200, np.uint8)).save(tmp_path / "a.png")
    data = crop_and_encode((tmp_path / "a.png", np.array([-20.0, -20.0, 40.0]), 32, 95))
    from io import BytesIO

    crop = np.asarray(Image.open(BytesIO(data)))
    assert crop.shape == (32, 32, 3)
    assert crop[:12, :12].max() < 30 and crop[20:, 20:].min() > 170  # top-left padding, bottom-right image
    with pytest.raises(FileNotFoundError, match="missing"):
        crop_and_encode((tmp_path / "nope.jpg", np.array([0.0, 0.0, 10.0]), 8, 90))


def test_crop_intrinsics_project_into_crop_pixels():
    rng = np.random.default_rng(0)
    K = np.array([[900.0, 0, 500], [0, 950.0, 400], [0, 0, 1]])
    boxes = np.array([[300.0, 200.0, 350.0], [10.0, -30.0, 90.0]])
    pts = rng.normal(0, 0.5, (2, 5, 3)) + [0, 0, 4]
    direct = to_crop_pixels(project_points(pts, K), boxes, 224)
    via_k = project_points(pts, crop_intrinsics(np.stack([K, K]), boxes, 224))
    assert np.allclose(direct, via_k, atol=1e-3)


def test_points_behind_the_camera_get_zero_confidence():
    kp = project_points(np.array([[[0.0, 0.0, 2.0], [0.1, 0.0, -1.0]]]), np.eye(3))
    assert kp[0, 0, 2] == 1 and kp[0, 1, 2] == 0 and np.all(np.isfinite(kp))


def test_jpeg_draft_decoding_gives_the_same_crop(tmp_path):
    ys, xs = np.mgrid[:1080, :1920]
    smooth = np.stack([xs / 1920 * 255, ys / 1080 * 255, np.full_like(xs, 128)], -1).astype(np.uint8)
    smooth[500:520, 900:920] = 255  # a marker the crop must keep in place
    Image.fromarray(smooth).save(tmp_path / "big.jpg", quality=95)
    box = np.array([700.0, 300.0, 800.0])  # 800 px box -> 64 px crop: the decoder may shrink by 8
    from io import BytesIO

    blob = crop_and_encode((tmp_path / "big.jpg", box, 64, 95))
    drafted = np.asarray(Image.open(BytesIO(blob))).astype(float)
    with Image.open(tmp_path / "big.jpg") as img:
        full = np.asarray(crop_image(img.convert("RGB"), box, 64)).astype(float)
    assert np.abs(drafted - full).mean() < 4.0
    marker = to_crop_pixels(np.array([[[910.0, 510.0]]]), box[None], 64)[0, 0]  # (22.0, 16.8)
    weight = drafted.sum(-1) > 600
    ys, xs = np.nonzero(weight)
    assert abs(xs.mean() + 0.5 - marker[0]) < 1.0 and abs(ys.mean() + 0.5 - marker[1]) < 1.0
