"""Fixture pickles written the way Python 2 did: protocol 2, 8-bit strings, numpy.core names."""

from __future__ import annotations

import copyreg
import io
import os
import pickle
from pathlib import Path
from struct import pack
from typing import Any

import numpy as np

from vqhps.io.atomic import write_bytes_atomic

__all__ = ["FakeChumpyCh", "dumps_py2", "dump_py2"]


class FakeChumpyCh:
    """An array that pickles as ``chumpy.ch.Ch`` with state ``{'x': array}``, like the official SMPL files.

    chumpy itself is never imported (it does not run on current numpy/Python).
    """

    _pickle_as = ("chumpy.ch", "Ch")

    def __init__(self, x: np.ndarray) -> None:
        self.x = np.asarray(x)

    def __reduce_ex__(self, protocol: int) -> tuple:
        return (copyreg.__newobj__, (type(self),), {"x": self.x})


class _Py2Pickler(pickle._Pickler):
    """Pure-Python pickler emitting Python-2 opcodes: SHORT_BINSTRING/BINSTRING for str and bytes."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_py2_string(self, obj: str | bytes) -> None:
        data = obj.encode("latin1") if isinstance(obj, str) else obj
        n = len(data)
        self.write(
            (pickle.SHORT_BINSTRING + pack("<B", n)) if n < 256 else (pickle.BINSTRING + pack("<i", n))
        )
        self.write(data)
        self.memoize(obj)

    def save_str(self, obj: str) -> None:
        try:
            obj.encode("latin1")
        except UnicodeEncodeError:  # Python 2 would have had a `unicode` object here
            return pickle._Pickler.save_str(self, obj)
        return self._save_py2_string(obj)

    dispatch[str] = save_str
    dispatch[bytes] = _save_py2_string

    def save_global(self, obj: Any, name: str | None = None) -> None:
        target = getattr(obj, "_pickle_as", None) if isinstance(obj, type) else None
        module = getattr(obj, "__module__", "") or ""
        if target is None and module.startswith("numpy._core"):
            target = (module.replace("numpy._core", "numpy.core"), name or obj.__qualname__)
        if target is None and module.startswith("scipy.sparse._"):  # scipy < 1.8 names, as in the SMPL files
            target = (module.replace("scipy.sparse._", "scipy.sparse."), name or obj.__qualname__)
        if target is None:
            return pickle._Pickler.save_global(self, obj, name)
        self.write(pickle.GLOBAL + f"{target[0]}\n{target[1]}\n".encode("ascii"))
        self.memoize(obj)


def dumps_py2(obj: Any) -> bytes:
    """Pickle ``obj`` as a Python-2 program with numpy 1.x would have (protocol 2)."""
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def dump_py2(obj: Any, path: str | os.PathLike) -> Path:
    """Write :func:`dumps_py2` bytes atomically to ``path``."""
    write_bytes_atomic(path, dumps_py2(obj))
    return Path(path)
