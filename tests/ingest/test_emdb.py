"""EMDB reader: nested-dict pickles, EMDB-1 selection, frame masks, GT box x 1.2, seeded EMDB-2 split."""

import pickle

import numpy as np
import pytest

from helpers.realdata_fixtures import evil_pickle_bytes, write_emdb_sequence
from vqhps.ingest import emdb
from vqhps.io.safe_pickle import UnsafePickleError


def _write(root, k, **kw):
    subj, seq = f"P{k % 3}", f"{k:02d}_walk"
    return write_emdb_sequence(root / subj / seq / f"{subj}_{seq}_data.pkl", seed=k, **kw)


def test_read_sequence_masks_and_box(tmp_path):
    path = _write(tmp_path, 0, n_frames=5, gender="male")
    raw = pickle.loads(path.read_bytes())
    rec = emdb.read_sequence(path)
    # frame 0 not good, frame 4 in invalid_idxs
    assert list(rec.frame) == [1, 2, 3] and rec.imgname[0] == "P0/00_walk/images/00001.jpg"
    x0, y0, x1, y1 = raw["bboxes"]["bboxes"][1]
    assert np.isclose(rec.scale[0], 1.2 * max(x1 - x0, y1 - y0) / 200, rtol=1e-5)
    assert np.allclose(rec.center[0], [(x0 + x1) / 2, (y0 + y1) / 2])
    assert set(rec.gender) == {"male"}  # the original mapped "male" (not "m") to female
    assert rec.pose_body.shape == (3, 63) and np.allclose(rec.pose_body, raw["smpl"]["poses_body"][1:4, :63])
    assert rec.keypoints_2d.shape == (3, 24, 3) and np.all(rec.keypoints_2d[..., 2] == 1)


def test_emdb1_only_and_seeded_emdb2_split(tmp_path):
    for k in range(8):
        _write(tmp_path, k, emdb1=k < 2, emdb2=k >= 2)
    test = emdb.read_subset(tmp_path, "emdb1")
    assert set(test.sequence) == {"P0/00_walk", "P1/01_walk"}
    train, val = emdb.emdb2_split(tmp_path, val_fraction=0.2, seed=0)
    assert len(train) == 5 and len(val) == 1 and not set(train) & set(val)
    assert (train, val) == emdb.emdb2_split(tmp_path, val_fraction=0.2, seed=0)
    splits = {tuple(emdb.emdb2_split(tmp_path, 0.5, seed=s)[1]) for s in range(6)}
    assert len(splits) > 1  # the seed matters


def test_malicious_emdb_pickle_refused(tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "P0" / "00_x" / "P0_00_x_data.pkl"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(evil_pickle_bytes(marker))
    with pytest.raises(UnsafePickleError):
        emdb.read_subset(tmp_path, "emdb1")
    assert not marker.exists()
