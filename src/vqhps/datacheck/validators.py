"""Cheap content checks for dataset files (headers and key lists; pickles via the restricted unpickler)."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from vqhps.io.safe_pickle import load_npz, load_pickle

__all__ = ["npy_shape", "npz_keys", "pickle_keys", "torch_checkpoint", "label_file_images"]


def _npy_header(fp) -> tuple[tuple[int, ...], np.dtype]:
    version = np.lib.format.read_magic(fp)
    reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = reader(fp)
    return tuple(shape), dtype


def npy_shape(shape: tuple[int | None, ...]) -> Callable[[Path], str | None]:
    """``.npy`` whose shape matches (None = any size on that axis); reads the header only."""

    def check(path: Path) -> str | None:
        with open(path, "rb") as fp:
            got, _ = _npy_header(fp)
        ok = len(got) == len(shape) and all(s is None or s == g for s, g in zip(shape, got, strict=True))
        return None if ok else f"shape {got}, expected {shape}"

    return check


def npz_keys(required: tuple[str, ...], shapes: dict[str, tuple[int | None, ...]] | None = None):
    """``.npz`` holding ``required`` arrays (any-of groups as ``"a|b"``), shapes checked from headers."""

    def check(path: Path) -> str | None:
        with zipfile.ZipFile(path) as zf:
            names = {n.removesuffix(".npy") for n in zf.namelist()}
            missing = [k for k in required if not set(k.split("|")) & names]
            if missing:
                return f"lacks arrays {missing} (has {sorted(names)})"
            for key, shape in (shapes or {}).items():
                with zf.open(key + ".npy") as fp:
                    got, _ = _npy_header(fp)
                if len(got) != len(shape) or any(
                    s is not None and s != g for s, g in zip(shape, got, strict=True)
                ):
                    return f"{key} has shape {got}, expected {shape}"
        return None

    return check


def pickle_keys(required: tuple[str, ...]) -> Callable[[Path], str | None]:
    """Pickle that loads through the restricted unpickler and is a dict with ``required`` keys."""

    def check(path: Path) -> str | None:
        data = load_pickle(path)
        if not isinstance(data, dict):
            return f"holds a {type(data).__name__}, expected a dict"
        missing = [k for k in required if k not in data]
        return f"lacks keys {missing} (has {sorted(data)})" if missing else None

    return check


def torch_checkpoint(path: Path) -> str | None:
    """A torch checkpoint: zip archive (torch >= 1.6) or legacy pickle stream."""
    if zipfile.is_zipfile(path):
        return None
    with open(path, "rb") as fh:
        head = fh.read(2)
    return None if head[:1] == b"\x80" else "is neither a torch zip checkpoint nor a legacy pickle"


def label_file_images(path: Path, samples: int = 3) -> str | None:
    """Label npz with the CLIFF keys whose first/middle/last ``imgname`` exist beside it."""
    problem = npz_keys(("imgname", "center", "scale", "pose_cam|pose", "shape", "part"))(path)
    if problem:
        return problem
    names = load_npz(path, keys=["imgname"])["imgname"].reshape(-1)
    if len(names) == 0:
        return "holds no frames"
    picks = sorted({0, len(names) // 2, len(names) - 1})[:samples]
    absent = [str(names[i]) for i in picks if not (path.parent / str(names[i])).is_file()]
    if absent:
        return f"images not found relative to {path.parent}: {absent} (unpack the images there)"
    return None
