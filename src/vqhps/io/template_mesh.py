"""Faces of a template mesh from ``.obj``, ``.ply`` or an SMPL/SMPL-H model file, in the file's own order.

Only the connectivity is read (and the vertex count): the pooling hierarchy depends on nothing else, but
it does depend on the order of the faces, so they are returned exactly as the file lists them.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import numpy as np

MODEL_SUFFIXES = (".pkl", ".npz")
SUFFIXES = (".obj", ".ply", *MODEL_SUFFIXES)

_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}  # fmt: skip


def read_template_faces(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Faces and vertex count of a template mesh.

    Args:
        path: ``.obj`` (``v``/``f`` lines), ``.ply`` (ascii or binary, ``vertex`` and ``face`` elements),
            or an SMPL/SMPL-H model (``.pkl``/``.npz``, read without unpickling arbitrary objects).

    Returns:
        faces (F, P) int64 0-based vertex ids in file order (P = 3 for triangles), and the vertex count.

    Raises:
        FileNotFoundError: no such file. ValueError: unknown suffix, or no faces / bad ids in the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"template {path} not found")
    suffix = path.suffix.lower()
    if suffix == ".obj":
        faces, n = _read_obj(path)
    elif suffix == ".ply":
        faces, n = _read_ply(path)
    elif suffix in MODEL_SUFFIXES:
        faces, n = _read_body_model(path)
    else:
        raise ValueError(f"template {path}: unknown format '{suffix}'; use one of {', '.join(SUFFIXES)}")
    if not len(faces):
        raise ValueError(f"template {path}: no faces found (the hierarchy needs the mesh's triangles)")
    if faces.min() < 0 or faces.max() >= n:
        raise ValueError(f"template {path}: face vertex ids outside [0, {n}) ({n} vertices)")
    return faces, n


def _rectangular(polygons: list[list[int]], path: Path) -> np.ndarray:
    if not polygons:
        return np.zeros((0, 3), dtype=np.int64)
    sizes = {len(p) for p in polygons}
    if len(sizes) > 1:
        raise ValueError(f"template {path}: mixes faces of {sorted(sizes)} corners; triangulate it first")
    return np.asarray(polygons, dtype=np.int64)


def _read_obj(path: Path) -> tuple[np.ndarray, int]:
    n_vertices, polygons = 0, []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, 1):
            if line.startswith("v "):
                n_vertices += 1
            elif line.startswith("f "):
                try:
                    ids = [int(tok.split("/")[0]) for tok in line.split()[1:]]
                except ValueError:
                    raise ValueError(f"template {path}: line {number} is not a valid face") from None
                if len(ids) < 3:
                    raise ValueError(f"template {path}: line {number} has a face of fewer than 3 corners")
                # 1-based ids; negative ids count back from the last vertex read so far
                polygons.append([i - 1 if i > 0 else n_vertices + i for i in ids])
    return _rectangular(polygons, path), n_vertices


def _ply_header(fh, path: Path) -> tuple[str, list[tuple[str, int, list[tuple]]]]:
    """Format and elements ``(name, count, [(prop name, dtype) or (name, count dtype, item dtype)])``."""
    if fh.readline().strip() != b"ply":
        raise ValueError(f"template {path}: not a PLY file (no 'ply' magic line)")
    fmt, elements = "", []
    for raw in fh:
        words = raw.decode("ascii", errors="replace").split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        if words[0] == "end_header":
            return fmt, elements
        try:
            if words[0] == "format":
                fmt = words[1]
            elif words[0] == "element":
                elements.append((words[1], int(words[2]), []))
            elif words[0] == "property" and words[1] == "list":
                elements[-1][2].append((words[4], _PLY_TYPES[words[2]], _PLY_TYPES[words[3]]))
            elif words[0] == "property":
                elements[-1][2].append((words[2], _PLY_TYPES[words[1]]))
        except (IndexError, KeyError, ValueError):
            raise ValueError(f"template {path}: bad PLY header line '{' '.join(words)}'") from None
    raise ValueError(f"template {path}: PLY header has no end_header")


def _read_ply(path: Path) -> tuple[np.ndarray, int]:
    with open(path, "rb") as fh:
        fmt, elements = _ply_header(fh, path)
        if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
            raise ValueError(f"template {path}: unknown PLY format '{fmt}'")
        counts = {name: count for name, count, _ in elements}
        if "vertex" not in counts or "face" not in counts:
            raise ValueError(f"template {path}: PLY needs 'vertex' and 'face' elements, has {sorted(counts)}")
        body = fh.read()
    reader = _PlyAscii(body) if fmt == "ascii" else _PlyBinary(body, "<" if "little" in fmt else ">")
    polygons: list[list[int]] = []
    try:
        for name, count, props in elements:
            if name != "face" and all(len(p) == 2 for p in props):
                reader.skip(count, props)
                continue
            for _ in range(count):
                values = reader.row(props)
                if name == "face":
                    polygons.append(next(v for v in values if isinstance(v, list)))
    except (IndexError, ValueError, StopIteration):
        raise ValueError(f"template {path}: PLY body is truncated or does not match its header") from None
    return _rectangular(polygons, path), counts["vertex"]


class _PlyAscii:
    def __init__(self, body: bytes) -> None:
        self._words = body.split()
        self._at = 0

    def _next(self, dtype: str) -> float | int:
        word = self._words[self._at]
        self._at += 1
        return float(word) if dtype.startswith("f") else int(word)

    def skip(self, count: int, props: list[tuple]) -> None:
        self._at += count * len(props)
        if self._at > len(self._words):
            raise ValueError("truncated")

    def row(self, props: list[tuple]) -> list:
        out: list = []
        for prop in props:
            if len(prop) == 3:
                n = int(self._next(prop[1]))
                out.append([int(self._next(prop[2])) for _ in range(n)])
            else:
                out.append(self._next(prop[1]))
        return out


class _PlyBinary:
    def __init__(self, body: bytes, order: str) -> None:
        self._body, self._order, self._at = body, order, 0

    def _take(self, dtype: str, n: int = 1) -> np.ndarray:
        dt = np.dtype(self._order + dtype)
        end = self._at + dt.itemsize * n
        if end > len(self._body):
            raise ValueError("truncated")
        values = np.frombuffer(self._body, dtype=dt, count=n, offset=self._at)
        self._at = end
        return values

    def skip(self, count: int, props: list[tuple]) -> None:
        self._at += count * sum(np.dtype(p[1]).itemsize for p in props)
        if self._at > len(self._body):
            raise ValueError("truncated")

    def row(self, props: list[tuple]) -> list:
        out: list = []
        for prop in props:
            if len(prop) == 3:
                n = int(self._take(prop[1])[0])
                out.append(self._take(prop[2], n).astype(np.int64).tolist())
            else:
                out.append(self._take(prop[1])[0])
        return out


def _read_body_model(path: Path) -> tuple[np.ndarray, int]:
    from vqhps.body.smpl import read_model_arrays

    try:
        arrays = read_model_arrays(path)
    except KeyError as err:
        raise ValueError(f"template {err.args[0]}") from None
    except pickle.UnpicklingError as err:  # includes the refused globals of an unsafe pickle
        raise ValueError(f"template {path}: {err}") from None
    except (OSError, EOFError, zipfile.BadZipFile, ValueError) as err:
        raise ValueError(f"template {path}: not a readable SMPL/SMPL-H model file ({err})") from None
    return np.asarray(arrays["f"], dtype=np.int64), int(arrays["v_template"].shape[0])
