"""Restricted unpickling of dataset and body-model files: numpy arrays in, no arbitrary code."""

from __future__ import annotations

import _compat_pickle
import importlib
import io
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from vqhps.io.errors import READ_ERRORS, DataFileError, MissingFieldError, as_data_error

__all__ = ["UnsafePickleError", "ChumpyStub", "load_pickle", "loads_pickle", "load_npz"]


class UnsafePickleError(DataFileError, pickle.UnpicklingError):
    """A pickle asked for a global that is not on the allow-list (possible code-execution payload)."""

    def __init__(self, path: str, found: str) -> None:
        super().__init__(
            path,
            "pickle contents",
            "only numpy/scipy array data",
            found,
            "this file may carry a code-execution payload: do not load it with plain pickle; delete it and "
            "download it again from the dataset's site",
        )

    def __reduce__(self):
        return (type(self), (self.path, self.found))


# (module, name) pairs a numpy/scipy data pickle legitimately needs. Python-2 names (`__builtin__`,
# `copy_reg`) are translated first, exactly as the stock unpickler does with fix_imports=True.
_ALLOWED: frozenset[tuple[str, str]] = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.ma.core", "_mareconstruct"),
        ("numpy.ma.core", "MaskedArray"),
        # Python-3 protocol-2 pickles store bytes as codecs.encode(str, "latin1"); a pure transform.
        ("_codecs", "encode"),
        ("codecs", "encode"),
        ("collections", "OrderedDict"),
        ("copyreg", "__newobj__"),
        # Protocols 0/1 rebuild objects as _reconstructor(cls, base, state); cls and base are themselves
        # resolved through this allow-list, so only the classes listed here can be instantiated.
        ("copyreg", "_reconstructor"),
        ("builtins", "object"),
    }
    | {
        ("builtins", n)
        for n in (
            "list",
            "dict",
            "tuple",
            "set",
            "frozenset",
            "bytes",
            "bytearray",
            "str",
            "int",
            "float",
            "complex",
            "bool",
            "slice",
            "range",
        )  # fmt: skip
    }
    | {
        (m, n)
        for m in (
            "scipy.sparse.csc",
            "scipy.sparse._csc",
            "scipy.sparse.csr",
            "scipy.sparse._csr",
            "scipy.sparse.compressed",
            "scipy.sparse._compressed",
        )  # fmt: skip
        for n in ("csc_matrix", "csr_matrix", "csc_array", "csr_array")
    }
)

# numpy 2 moved numpy.core to numpy._core; importing the old name only emits a DeprecationWarning.
_RENAMES = {"numpy.core.multiarray": "numpy._core.multiarray", "numpy.core.numeric": "numpy._core.numeric"}
_SPARSE_RENAMES = {
    "scipy.sparse.csc": "scipy.sparse",
    "scipy.sparse._csc": "scipy.sparse",
    "scipy.sparse.csr": "scipy.sparse",
    "scipy.sparse._csr": "scipy.sparse",
    "scipy.sparse.compressed": "scipy.sparse",
    "scipy.sparse._compressed": "scipy.sparse",
}


class ChumpyStub:
    """Stand-in for any pickled ``chumpy`` object; keeps the pickled state without importing chumpy.

    A leaf ``chumpy.ch.Ch`` keeps its value under the state key ``'x'`` (chumpy's ``dterms``); after loading,
    every stub with an ``x`` is replaced by ``np.asarray(x)``. Stubs of derived chumpy expressions (no ``x``)
    are left in place; :meth:`to_array` raises a clear error for them.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> ChumpyStub:  # noqa: D102 - pickle calls cls.__new__(cls)
        return super().__new__(cls)

    def __setstate__(self, state: Any) -> None:
        self.state = state if isinstance(state, dict) else {"state": state}

    def to_array(self) -> np.ndarray:
        """Return the wrapped array. Raises ValueError for chumpy expressions without a stored value."""
        state = getattr(self, "state", {})
        if "x" not in state:
            raise ValueError(
                f"pickled chumpy object {type(self).__name__!r} is an expression without a stored value "
                f"(state keys {sorted(state)}); it cannot be converted without chumpy"
            )
        return np.asarray(state["x"])


def _translate_py2(module: str, name: str) -> tuple[str, str]:
    """Map Python-2 module/global names to their Python-3 homes, as pickle's fix_imports does."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler whose ``find_class`` admits only the allow-list and maps chumpy classes to stubs."""

    def __init__(self, file: Any, source: str, encoding: str) -> None:
        super().__init__(file, encoding=encoding, fix_imports=True)
        self._source = source
        self._stubs: dict[str, type] = {}

    def find_class(self, module: str, name: str) -> Any:
        module, name = _translate_py2(module, name)
        if module == "chumpy" or module.startswith("chumpy."):
            # One stub subclass per chumpy class name so error messages can say what it was.
            return self._stubs.setdefault(name, type(name, (ChumpyStub,), {}))
        if (module, name) not in _ALLOWED:
            raise UnsafePickleError(self._source, f"a reference to {module}.{name} (refused)")
        target = _SPARSE_RENAMES.get(module, _RENAMES.get(module, module))
        return getattr(importlib.import_module(target), name)

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(self._source, f"persistent id {pid!r} (refused; data pickles have none)")


def _replace_stubs(obj: Any) -> Any:
    """Recursively replace leaf chumpy stubs by numpy arrays inside dicts, lists and tuples."""
    if isinstance(obj, ChumpyStub):
        return obj.to_array() if "x" in getattr(obj, "state", {}) else obj
    if isinstance(obj, dict):
        for key in list(obj):
            obj[key] = _replace_stubs(obj[key])
        return obj
    if isinstance(obj, list):
        return [_replace_stubs(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_replace_stubs(v) for v in obj)
    return obj


def loads_pickle(data: bytes, source: str = "<bytes>", encoding: str = "latin1") -> Any:
    """Unpickle bytes with the restricted unpickler.

    Args:
        data: pickle bytes (any protocol).
        source: name used in error messages (usually the file path).
        encoding: how Python-2 ``str`` objects are decoded; ``latin1`` keeps numpy buffers intact.

    Returns:
        The unpickled object, with leaf chumpy objects replaced by ``np.ndarray``.

    Raises:
        UnsafePickleError: the pickle references a global outside the allow-list.
    """
    return _replace_stubs(_RestrictedUnpickler(io.BytesIO(data), source, encoding).load())


def load_pickle(path: str | os.PathLike, encoding: str = "latin1") -> Any:
    """Load a dataset/body-model pickle file safely (see :func:`loads_pickle`).

    Raises:
        FileNotFoundError: the file does not exist.
        UnsafePickleError: the file references a refused global; the message names the file and global.
        DataFileError: the file is empty, truncated or not a pickle (names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pickle file not found: {path}")
    try:
        with path.open("rb") as fh:
            return _replace_stubs(_RestrictedUnpickler(fh, str(path), encoding).load())
    except READ_ERRORS as err:
        raise as_data_error(path, "pickle", err) from None


def _read_npy_member(fp: Any, source: str) -> np.ndarray:
    """Read one ``.npy`` stream; object arrays go through the restricted unpickler, never plain pickle."""
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
    if dtype.hasobject:
        array = _RestrictedUnpickler(fp, source, "latin1").load()
        return np.asarray(_replace_stubs(array), dtype=object).reshape(shape)
    count = int(np.prod(shape)) if shape else 1
    data = np.frombuffer(fp.read(count * dtype.itemsize), dtype=dtype, count=count)
    return data.reshape(shape, order="F" if fortran else "C").copy()


def load_npz(path: str | os.PathLike, keys: list[str] | None = None) -> dict[str, np.ndarray]:
    """Load every (or the listed) array of an ``.npz`` file into a dict, object arrays included, safely.

    ``np.load(allow_pickle=True)`` would run arbitrary pickles; this reads object members through the
    restricted unpickler instead.

    Args:
        path: the ``.npz`` file.
        keys: names to load (without ``.npy``); all when None.

    Raises:
        FileNotFoundError: no such file.
        MissingFieldError: a requested key is absent (a KeyError; the message lists the keys present).
        UnsafePickleError: an object member carries a refused global.
        DataFileError: the file is empty, truncated or not an npz, or a member is damaged (names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"npz file not found: {path}")
    out: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            members = {n[:-4] if n.endswith(".npy") else n: n for n in zf.namelist()}
            wanted = list(members) if keys is None else keys
            for key in wanted:
                if key not in members:
                    raise MissingFieldError(
                        path, key, "an array of that name", f"only {sorted(members)} present"
                    )
                with zf.open(members[key]) as fp:
                    out[key] = _read_npy_member(io.BufferedReader(fp), f"{path}[{key}]")
    except READ_ERRORS as err:
        raise as_data_error(path, "npz archive", err) from None
    return out
