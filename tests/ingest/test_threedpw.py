"""3DPW reader on Python-2 latin-1 fixture pickles: keys, campose_valid, frame alignment, camera frame."""

import pickle

import numpy as np
import pytest
import torch

from helpers.realdata_fixtures import evil_pickle_bytes, write_threedpw_sequence
from vqhps.geometry import axis_angle_to_matrix
from vqhps.ingest import threedpw
from vqhps.io.safe_pickle import UnsafePickleError


@pytest.fixture
def seq(tmp_path):
    return write_threedpw_sequence(
        tmp_path / "sequenceFiles" / "test" / "downtown_bar_00.pkl", n_frames=6, seed=3
    )


def test_fixture_is_a_python2_latin1_pickle(seq):
    raw = seq.read_bytes()
    assert raw[:2] == b"\x80\x02" and b"numpy.core.multiarray" in raw  # numpy-1 era, protocol 2
    data = pickle.loads(raw, encoding="latin1")  # what SPIN / VQ-HPS do; must be readable that way too
    assert data["poses2d"][0].shape == (6, 3, 18) and data["genders"] == ["m", "f"]


def test_read_sequence_keeps_campose_valid_frames_and_aligns_indices(seq):
    raw = pickle.loads(seq.read_bytes(), encoding="latin1")
    rec = threedpw.read_sequence(seq)
    # person 1 has campose_valid[0] == False -> 6 + 5 frames
    assert len(rec) == 11 and sorted(set(rec.person)) == [0, 1]
    assert not np.any((rec.person == 1) & (rec.frame == 0))
    row = np.flatnonzero((rec.person == 1) & (rec.frame == 3))[0]
    # label of frame t comes from poses[t] and image_0000t: no time_pt1 shift
    assert rec.imgname[row] == "imageFiles/downtown_bar_00/image_00003.jpg"
    assert np.allclose(rec.pose_body[row], raw["poses"][1][3, 3:66], atol=1e-6)
    assert np.allclose(rec.keypoints_2d[row], raw["poses2d"][1][3].T, atol=1e-4)
    r_cam = raw["cam_poses"][3, :3, :3] @ axis_angle_to_matrix(torch.tensor(raw["poses"][1][3, :3])).numpy()
    got = axis_angle_to_matrix(torch.tensor(rec.root_orient[row], dtype=torch.float64)).numpy()
    assert np.allclose(got, r_cam, atol=1e-5)
    assert set(rec.gender) == {"male", "female"} and rec.betas.shape == (11, 10)
    assert rec.keypoints_2d.shape == (11, 18, 3) and rec.scale.dtype == np.float32


def test_smoothing_keeps_absolute_frame_index_and_fills_gaps():
    n = 40
    kp = np.zeros((n, 18, 3))
    kp[:, :, 2] = 1.0
    kp[:, :9, :2] = [100.0, 200.0]
    kp[:, 9:, :2] = [130.0, 240.0]  # constant box: centre (115, 220), diag 50
    kp[:5, :, 2] = 0.1  # first 5 frames invisible (the original zero-padded these and shifted the rest)
    boxes = threedpw.keypoint_boxes(kp)
    assert np.isnan(boxes[:5]).all() and np.allclose(boxes[5:], [115, 220, 50])
    smooth = threedpw.smooth_boxes(boxes)
    assert smooth.shape == (n, 3) and np.allclose(smooth, [115, 220, 50])


def test_smoothing_removes_outlier_and_noise():
    rng = np.random.default_rng(0)
    boxes = np.tile([500.0, 300.0, 200.0], (100, 1)) + rng.normal(0, 5, (100, 3))
    boxes[50] = [2000, 2000, 10]
    smooth = threedpw.smooth_boxes(boxes)
    assert np.abs(smooth - [500, 300, 200]).max() < 5
    assert smooth[:, 0].std() < boxes[np.arange(100) != 50, 0].std() / 3


def test_read_split_and_malicious_pickle_refused(tmp_path):
    for j in range(2):
        write_threedpw_sequence(tmp_path / "sequenceFiles" / "validation" / f"s{j}.pkl", seed=j)
    rec = threedpw.read_split(tmp_path, "validation")
    assert len(set(rec.sequence)) == 2
    marker = tmp_path / "pwned"
    (tmp_path / "sequenceFiles" / "validation" / "s9.pkl").write_bytes(evil_pickle_bytes(marker))
    with pytest.raises(UnsafePickleError, match="s9.pkl"):
        threedpw.read_split(tmp_path, "validation")
    assert not marker.exists()
    with pytest.raises(FileNotFoundError):
        threedpw.read_split(tmp_path, "train")
