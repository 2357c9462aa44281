"""Every reader checks what it reads and names the file, the field, what it expected and what it found."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from helpers.realdata_fixtures import mismatch_threedpw_frames, write_bad_file
from vqhps.ingest import amass, bedlam, emdb, threedpw
from vqhps.ingest.mesh_sets import load_models, load_regressor
from vqhps.io.errors import DataFileError


@pytest.fixture
def seq_3dpw(mini_root, tmp_path):
    src = mini_root / "3dpw" / "sequenceFiles" / "test" / "test_seq_00.pkl"
    return shutil.copy(src, tmp_path / "test_seq_00.pkl")


@pytest.mark.parametrize(
    "field, delta, named, expected",
    [
        ("poses2d", -1, "poses2d[0]", "shape (4, 3, 18) (4 frames as cam_poses)"),
        ("campose_valid", 1, "campose_valid[0]", "shape (4,) (4 frames as cam_poses)"),  # was truncated
        ("trans", -1, "trans[0]", "shape (4, 3) (4 frames as cam_poses)"),
        ("jointPositions", -1, "jointPositions[0]", "shape (4, 72) (4 frames as cam_poses)"),
        ("cam_poses", -1, "poses[0]", "shape (3, 72) (3 frames as cam_poses)"),  # was an IndexError
    ],
)
def test_threedpw_frame_counts_must_agree(seq_3dpw, field, delta, named, expected):
    mismatch_threedpw_frames(seq_3dpw, field, delta)
    with pytest.raises(DataFileError) as info:
        threedpw.read_sequence(seq_3dpw)
    assert str(info.value).startswith(f"{seq_3dpw}: {named}: expected {expected}, found shape (")


def test_threedpw_good_sequence_passes(seq_3dpw):
    assert threedpw.validate_sequence(seq_3dpw, threedpw.load_sequence(seq_3dpw)) == 4


def test_emdb_rows_must_match_n_frames(mini_root, tmp_path):
    import pickle

    src = next(iter(sorted((mini_root / "emdb").glob("P*/*/*_data.pkl"))))
    data = pickle.loads(src.read_bytes())
    data["kp2d"] = data["kp2d"][:-1]
    path = tmp_path / src.name
    path.write_bytes(pickle.dumps(data, protocol=4))
    with pytest.raises(DataFileError, match=r"kp2d: expected shape \(4, 24, 2\) \(n_frames = 4 rows\)"):
        emdb.read_sequence(path)
    data["kp2d"], data["gender"] = data["kp2d"][:0], "robot"
    path.write_bytes(pickle.dumps(data, protocol=4))
    with pytest.raises(DataFileError, match=f"{path.name}: kp2d"):
        emdb.load_sequence(path)


def test_motion_and_label_shapes(mini_root, tmp_path):
    path = tmp_path / "m_poses.npz"
    np.savez(path, poses=np.zeros((5, 156)), betas=np.zeros(16), gender=np.array("robot"))
    with pytest.raises(DataFileError, match=r"m_poses.npz: gender: expected a gender label .*found 'robot'"):
        amass.load_motion(path)
    np.savez(
        path, poses=np.zeros((5, 156)), betas=np.zeros(16), gender=np.array("male"), trans=np.zeros((4, 3))
    )
    with pytest.raises(DataFileError, match=r"trans: expected shape \(5, 3\)"):
        amass.load_motion(path)
    labels = dict(np.load(mini_root / "bedlam_real" / "coco" / "coco.npz"))
    labels["part"] = labels["part"][:, :17]
    np.savez(tmp_path / "coco.npz", **labels)
    with pytest.raises(DataFileError, match=r"coco.npz: part: expected shape \(3, 24, 3\)"):
        bedlam.read_label_file(tmp_path / "coco.npz")


def _linked_body_models(mini_root, tmp_path):
    for f in (mini_root / "body_models").rglob("*"):
        if f.is_file():
            (tmp_path / f.relative_to(mini_root)).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / f.relative_to(mini_root)).symlink_to(f)
    return tmp_path


@pytest.mark.parametrize(
    "kind, family, rel, message",
    [
        ("vertices_6000", "smpl", "smpl/SMPL_MALE.pkl", r"v_template: expected shape \(6890, 3\)"),
        (
            "transposed_regressor",
            "smpl",
            "smpl/SMPL_NEUTRAL.pkl",
            r"J_regressor: .*found shape \(6890, 24\), the transpose",
        ),
        ("vertices_6000", "smplh", "smplh/female/model.npz", r"v_template: expected shape \(6890, 3\)"),
        (
            "betas_8",
            "smplh",
            "smplh/male/model.npz",
            r"shapedirs: expected at least 10 shape components.*found 8",
        ),
        ("truncated", "smplh", "smplh/neutral/model.npz", "file: expected a complete npz archive"),
    ],
)
def test_body_model_shapes_checked_on_load(mini_root, tmp_path, kind, family, rel, message):
    root = _linked_body_models(mini_root, tmp_path)
    path = write_bad_file(root / "body_models" / rel, kind, tmp_path / "marker")
    with pytest.raises(DataFileError, match=message) as info:
        load_models(root, family, num_betas=10)
    assert info.value.path.startswith(str(path))
    assert (mini_root / "body_models" / rel).stat().st_size > 1000  # the shared root is untouched


def test_regressor_shape_checked(mini_root, tmp_path):
    root = _linked_body_models(mini_root, tmp_path)
    reg = root / "body_models" / "J_regressor_h36m.npy"
    reg.unlink()
    np.save(reg, np.zeros((6890, 17)))
    with pytest.raises(DataFileError, match=r"J_regressor_h36m.npy: array: expected shape \(17, 6890\)"):
        load_regressor(root)


def test_one_emdb2_sequence_stops_before_any_work_with_the_count(tmp_path):
    from helpers.realdata_fixtures import write_emdb_sequence
    from vqhps.ingest.image_sets import emdb2_files

    write_emdb_sequence(tmp_path / "emdb" / "P0" / "a" / "P0_a_data.pkl", emdb1=False, emdb2=True)
    write_emdb_sequence(tmp_path / "emdb" / "P1" / "b" / "P1_b_data.pkl", emdb1=True, emdb2=False)
    assert [p.name for p in emdb2_files(tmp_path, "emdb2_train", 0.2, 0)] == ["P0_a_data.pkl"]
    with pytest.raises(FileNotFoundError, match=r"emdb2_val: 1 EMDB-2 sequence\(s\) .* needs at least 2"):
        emdb2_files(tmp_path, "emdb2_val", 0.2, 0)
