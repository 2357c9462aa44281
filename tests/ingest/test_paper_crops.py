"""The network input of every paper source is the original's crop: same centre and side as VQ-HPS's
preprocessing (label sets: center, 200 * scale; 3DPW: 200 * keypoint-box diagonal / 150; EMDB: 1.2 * the
longer GT-box side), checked to the pixel through prepare_images' rows and ImageCropDataset."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from PIL import Image

from vqhps.data.augment import IMAGENET_MEAN, IMAGENET_STD
from vqhps.data.image_dataset import CropConfig, ImageCropDataset, decode_image
from vqhps.ingest import image_sets, threedpw
from vqhps.ingest.image_sets import ImageSet, image_rows, original_keypoints, stored_crop
from vqhps.ingest.mesh_sets import load_models, load_regressor
from vqhps.ingest.records import FrameRecords

CROP, CONTEXT = 64, 1.77


@pytest.fixture(scope="module")
def models(mini_root):
    return load_models(mini_root, "smplh"), load_models(mini_root, "smpl"), load_regressor(mini_root)


def _network_box(iset: ImageSet, index: np.ndarray, models) -> np.ndarray:
    """(n, 3) centre u, v and side (original pixels) of the unaugmented network input of each row.

    Found from the data, not from the code's boxes: each row's 17 keypoints in original pixels and in the
    network input (normalised to [-1, 1]) are related by u_net = 2 (u - centre) / side; a least-squares fit
    of that map gives the box.
    """
    smplh, smpl, reg = models
    cols, _ = image_rows(iset, index, "test", CROP, 95, smplh, smpl, reg, context=CONTEXT)
    orig = original_keypoints(iset, index, smpl, reg)  # conf 0: behind the camera (random fixture poses)
    samples = [
        {"image": cols["image"][j], "bbox": cols["bbox"][j], "global_rot": np.eye(3),
         "keypoints2d": cols["keypoints2d"][j].reshape(17, 3)}
        for j in range(len(index))
    ]  # fmt: skip
    data = ImageCropDataset(samples, CropConfig(size=CROP, bbox_rescale=1.0))
    out = np.full((len(index), 3), np.nan)
    for j in range(len(index)):
        seen = orig[j, :, 2] > 0
        if seen.sum() < 3:
            continue
        net = data[j]["keypoints2d"].numpy()[seen, :2].astype(np.float64)
        n = int(seen.sum())
        a = np.stack([net.ravel(), np.tile([1.0, 0.0], n), np.tile([0.0, 1.0], n)], 1)
        (half, cu, cv), *_ = np.linalg.lstsq(a, orig[j, seen, :2].ravel(), rcond=None)
        out[j] = [cu, cv, 2 * half]
    assert np.isfinite(out).all(1).any(), "no row with keypoints in front of the camera"
    return out


def test_emdb_network_box_is_the_originals(mini_root, models):
    iset = image_sets.load_image_set("emdb1", mini_root, 0.2, seed=0)
    raw = pickle.loads(next((mini_root / "emdb").glob("P0/00_walk/*_data.pkl")).read_bytes())
    index = np.arange(len(iset.records))
    frames = iset.records.frame[index]
    b = raw["bboxes"]["bboxes"][frames]
    # the original: center = box middle, scale = 1 / (1.2 max(w, h) / 200), inverted again when loading
    want = np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], 1)
    side = 200 / (1 / (1.2 * np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) / 200))
    got = _network_box(iset, index, models)
    ok = np.isfinite(got).all(1)
    assert np.abs(got[ok, :2] - want[ok]).max() < 0.5 and np.abs(got[ok, 2] - side[ok]).max() < 0.5


def test_threedpw_network_box_is_the_originals(mini_root, models):
    iset = image_sets.load_image_set("3dpw_test", mini_root, 0.2, seed=0)
    raw = pickle.loads(
        (mini_root / "3dpw/sequenceFiles/test/test_seq_00.pkl").read_bytes(), encoding="latin1"
    )
    index = np.arange(len(iset.records))
    got = _network_box(iset, index, models)
    for j in np.flatnonzero(np.isfinite(got).all(1)):
        p, t = iset.records.person[j], iset.records.frame[j]
        kp = np.asarray(raw["poses2d"][p]).transpose(0, 2, 1)
        cx, cy, diag = threedpw.smooth_boxes(threedpw.keypoint_boxes(kp))[t]  # smoothed (cx, cy, diag)
        # the original stores scale = 150 / diag and inverts it when loading: side = 200 * diag / 150
        assert np.abs(got[j] - [cx, cy, 200 / (150 / diag)]).max() < 0.5


def test_label_set_network_box_is_center_and_200_scale(mini_root, models):
    iset = image_sets.load_image_set("coco", mini_root, 0.2, seed=0)
    data = np.load(mini_root / "bedlam_real/coco/coco.npz", allow_pickle=True)
    index = np.arange(len(iset.records))
    got = _network_box(iset, index, models)
    ok = np.isfinite(got).all(1)
    assert np.abs(got[ok, :2] - data["center"][ok]).max() < 0.5
    assert np.abs(got[ok, 2] - 200 * data["scale"][ok]).max() < 0.5


def test_network_input_shows_the_whole_original_box_and_the_store_keeps_context(tmp_path, models):
    """A white image with a 2-px black frame on the original's box: the network input is framed at its
    border (nothing cut, nothing added) and the stored crop holds the white context around the frame."""
    image = np.full((480, 640, 3), 255, np.uint8)
    x0, y0, side = 220, 130, 200  # box: centre (320, 230), scale 1.0
    image[y0 : y0 + side, x0 : x0 + side] = 0
    image[y0 + 2 : y0 + side - 2, x0 + 2 : x0 + side - 2] = 255
    Image.fromarray(image).save(tmp_path / "frame.png")
    kp = np.zeros((1, 24, 3), np.float32)
    kp[0, :, :2] = [320.0, 230.0]
    kp[0, :, 2] = 1.0
    rec = FrameRecords(
        dataset="coco", imgname=np.array(["frame.png"]), center=np.array([[320.0, 230.0]], np.float32),
        scale=np.array([1.0], np.float32), gender=np.array(["neutral"]), betas=np.zeros((1, 10), np.float32),
        root_orient=np.zeros((1, 3), np.float32), pose_body=np.zeros((1, 63), np.float32),
        pose_hands=np.zeros((1, 6), np.float32), keypoints_2d=kp,
        sequence=np.array([""]), frame=np.array([-1]), person=np.array([0]),
    )  # fmt: skip
    smplh, smpl, reg = models
    cols, _ = image_rows(ImageSet("coco", "coco", rec, tmp_path, None), np.array([0]), "train", CROP, 95,
                         smplh, smpl, reg, context=CONTEXT)  # fmt: skip
    stored = decode_image(cols["image"][0]).astype(np.float64).mean(-1)
    _, pixels, bbox = stored_crop(np.array([[x0, y0, side]], np.float64), CROP, CONTEXT)
    margin = int(bbox[0, 0])
    assert stored.shape == (pixels, pixels) and pixels == CROP + 2 * margin and margin > 0
    assert stored[: margin - 2].min() > 200, "white context outside the original's box is stored"
    sample = {"image": cols["image"][0], "bbox": cols["bbox"][0], "keypoints2d": kp[0, :17],
              "global_rot": np.eye(3)}  # fmt: skip
    item = ImageCropDataset([sample], CropConfig(size=CROP, bbox_rescale=1.0))[0]
    net = (item["image"].numpy().transpose(1, 2, 0) * IMAGENET_STD + IMAGENET_MEAN).mean(-1) * 255
    assert net.shape == (CROP, CROP)
    # 2 px of 200 are 0.64 network px: the outermost network rows/columns are dark, one inside is white
    for edge in (net[0], net[-1], net[:, 0], net[:, -1]):
        assert edge.mean() < 140, "the frame sits on the network input's border"
    assert net[2:-2, 2:-2].min() > 200, "nothing outside the original's box is in the network input"
