"""DataFileError: damaged pickles and npz files name the file and say what is wrong; the error pickles."""

import pickle

import numpy as np
import pytest

from helpers.realdata_fixtures import write_bad_file
from vqhps.io.errors import DataFileError, MissingFieldError, check_shape
from vqhps.io.safe_pickle import UnsafePickleError, load_npz, load_pickle


@pytest.fixture
def good_files(tmp_path):
    pkl = tmp_path / "seq.pkl"
    pkl.write_bytes(pickle.dumps({"poses": np.zeros((50, 72))}, protocol=2))
    npz = tmp_path / "motion.npz"
    np.savez(npz, poses=np.zeros((50, 156)))
    compressed = tmp_path / "model.npz"
    np.savez_compressed(compressed, v=np.random.default_rng(0).normal(size=(500, 3)))
    return pkl, npz, compressed


@pytest.mark.parametrize("kind, found", [("empty", "empty file (0 bytes)"), ("truncated", "truncated")])
def test_damaged_pickle_names_file_and_problem(good_files, tmp_path, kind, found):
    path = write_bad_file(good_files[0], kind, tmp_path / "marker")
    with pytest.raises(DataFileError) as info:
        load_pickle(path)
    assert str(path) in str(info.value) and found in str(info.value) and "\n" not in str(info.value)
    assert info.value.path == str(path) and info.value.field == "file"


@pytest.mark.parametrize("which", [1, 2])
@pytest.mark.parametrize("kind", ["empty", "truncated"])
def test_damaged_npz_names_file(good_files, tmp_path, which, kind):
    path = write_bad_file(good_files[which], kind, tmp_path / "marker")
    with pytest.raises(DataFileError, match=f"{path.name}: file: expected a complete npz archive"):
        load_npz(path)


def test_hostile_npz_is_a_data_file_error_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    path = write_bad_file(tmp_path / "a_poses.npz", "hostile_npz", marker)
    with pytest.raises(UnsafePickleError) as info:
        load_npz(path)
    assert isinstance(info.value, DataFileError) and "[gender]" in info.value.path
    assert "system" in str(info.value) and not marker.exists()


def test_missing_key_is_a_key_error_with_a_readable_message(good_files):
    with pytest.raises(MissingFieldError) as info:
        load_npz(good_files[1], keys=["betas"])
    assert isinstance(info.value, KeyError) and str(info.value).startswith(str(good_files[1]))
    assert "['poses'] present" in str(info.value)


def test_error_survives_pickling_for_worker_processes():
    err = DataFileError("a.pkl", "poses", "shape (4, 72)", "shape (3, 72)", "fix it")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is DataFileError and str(back) == str(err) == (
        "a.pkl: poses: expected shape (4, 72), found shape (3, 72); fix it"
    )
    unsafe = pickle.loads(pickle.dumps(UnsafePickleError("b.pkl", "os.system")))
    assert isinstance(unsafe, UnsafePickleError) and unsafe.found == "os.system"


def test_check_shape_wildcards_and_ragged_lists():
    assert check_shape("f", "x", np.zeros((3, 4)), (None, 4)).shape == (3, 4)
    with pytest.raises(DataFileError, match=r"x: expected shape \(N, 5\), found shape \(3, 4\)"):
        check_shape("f", "x", np.zeros((3, 4)), (None, 5))
    with pytest.raises(DataFileError, match="ragged list"):
        check_shape("f", "x", [np.zeros(3), np.zeros(4)], (2, 3))
