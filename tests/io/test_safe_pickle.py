"""Restricted unpickler: numpy/scipy data loads, code-execution payloads are refused."""

import collections
import os
import pickle

import numpy as np
import pytest
import scipy.sparse as sp

from helpers.py2_pickle import FakeChumpyCh, dumps_py2
from helpers.realdata_fixtures import evil_pickle_bytes
from vqhps.io.safe_pickle import UnsafePickleError, load_npz, load_pickle, loads_pickle


def _payload():
    return {
        "arr": np.arange(12, dtype=np.float64).reshape(3, 4),
        "list": [np.float32(1.5), np.bool_(True), "m", b"raw", 3, 2.5, None, (1, 2)],
        "sparse": sp.csc_matrix(np.eye(4)),
        "od": collections.OrderedDict(a=1),
        "strs": np.array(["a", "bb"]),
        "set": {1, 2},
    }


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_numpy_and_scipy_data_load_at_every_protocol(protocol):
    obj = _payload()
    out = loads_pickle(pickle.dumps(obj, protocol=protocol))
    assert np.array_equal(out["arr"], obj["arr"]) and out["arr"].dtype == np.float64
    assert (out["sparse"] != obj["sparse"]).nnz == 0
    assert out["list"] == obj["list"] and out["od"] == obj["od"] and out["set"] == obj["set"]
    assert list(out["strs"]) == ["a", "bb"]


def test_python2_pickle_with_chumpy_objects_becomes_arrays():
    raw = dumps_py2({"shapedirs": FakeChumpyCh(np.ones((5, 3, 2))), "gender": "m", "x": [np.zeros(2)]})
    with pytest.raises(ModuleNotFoundError):  # plain pickle would need chumpy installed
        pickle.loads(raw, encoding="latin1")
    out = loads_pickle(raw)
    assert isinstance(out["shapedirs"], np.ndarray) and out["shapedirs"].shape == (5, 3, 2)
    assert out["gender"] == "m"


def test_code_execution_payload_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(evil_pickle_bytes(marker))
    with pytest.raises(UnsafePickleError, match=r"evil\.pkl.*(system|posix)"):
        load_pickle(path)
    assert not marker.exists()
    # the same bytes really are a payload: plain pickle would have run it
    pickle.loads(path.read_bytes())
    assert marker.exists()


@pytest.mark.parametrize(
    "global_name", [b"builtins\neval", b"os\nsystem", b"subprocess\nPopen", b"numpy\nload"]
)
def test_other_globals_refused(global_name):
    data = b"\x80\x02c" + global_name + b"\n)R."
    with pytest.raises(UnsafePickleError):
        loads_pickle(data)


def test_npz_object_member_goes_through_restricted_unpickler(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "labels.npz"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    np.savez(
        path, ok=np.arange(3), gender=np.array(["m", "f"], dtype=object), bad=np.array([Evil()], dtype=object)
    )
    out = load_npz(path, keys=["ok", "gender"])
    assert list(out["gender"]) == ["m", "f"] and np.array_equal(out["ok"], np.arange(3))
    with pytest.raises(UnsafePickleError, match="bad"):
        load_npz(path)
    assert not marker.exists()


def test_missing_file_and_key_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_pickle(tmp_path / "none.pkl")
    np.savez(tmp_path / "a.npz", x=np.zeros(1))
    with pytest.raises(KeyError, match="present"):
        load_npz(tmp_path / "a.npz", keys=["y"])
