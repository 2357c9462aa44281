"""The one error type for a bad data file, and the shape checks every reader shares.

A :class:`DataFileError` names the file, the field, what was expected and what was found, so with 60 3DPW
and 81 EMDB pickles the user knows which one to replace. Stages print it as one line (``vqhps.cli``).
"""

from __future__ import annotations

import os
import pickle
import struct
import zipfile
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["DataFileError", "MissingFieldError", "READ_ERRORS", "as_data_error", "check_shape"]


class DataFileError(ValueError):
    """A data file that cannot be used as it is.

    Attributes:
        path: the file (``path[member]`` for an npz member).
        field: the key or part of the file at fault (``"file"`` for the file as a whole).
        expected: what the readers need, in words or as a shape.
        found: what the file holds.
        fix: what to do about it (default: re-download the file).
    """

    def __init__(self, path: str | os.PathLike, field: str, expected: str, found: str, fix: str = "") -> None:
        self.path, self.field, self.expected, self.found = str(path), field, expected, found
        self.fix = fix or "replace it with a fresh copy of the download"
        super().__init__(str(self))

    def problem(self) -> str:
        """The message without the path (for reports that group lines by file)."""
        return f"{self.field}: expected {self.expected}, found {self.found}; {self.fix}"

    def __str__(self) -> str:
        return f"{self.path}: {self.problem()}"

    def __reduce__(self):  # keep the fields through multiprocessing pickling
        return (type(self), (self.path, self.field, self.expected, self.found, self.fix))


class MissingFieldError(DataFileError, KeyError):
    """A required key is absent (also a ``KeyError``, so ``data[key]``-style callers keep working)."""


# What reading a damaged pickle or npz raises besides our own errors (truncated, empty, not a zip, ...).
READ_ERRORS: tuple[type[BaseException], ...] = (
    pickle.UnpicklingError,
    EOFError,
    zipfile.BadZipFile,
    ValueError,  # numpy: bad .npy header, buffer too small
    TypeError,  # a pickle rebuilding an allowed class with the wrong arguments
    AttributeError,
    IndexError,
    KeyError,  # a corrupt pickle memo reference
    UnicodeDecodeError,
    struct.error,
    zlib.error,
    OSError,  # zlib/zip member errors (not FileNotFoundError: the readers check existence first)
)


def as_data_error(path: str | os.PathLike, what: str, err: BaseException) -> DataFileError:
    """A read failure of ``path`` (a ``what``: "pickle", "npz") as a :class:`DataFileError`."""
    if isinstance(err, DataFileError):
        return err
    text = str(err) or "no further detail"
    size = os.path.getsize(path) if os.path.isfile(path) else 0
    if size == 0:
        found = "an empty file (0 bytes)"
    elif isinstance(err, EOFError) or "truncated" in text or "ran out of input" in text.lower():
        found = f"a truncated file ({size} bytes)"
    elif isinstance(err, zipfile.BadZipFile):
        found = f"no readable zip archive ({size} bytes, truncated or not an npz: {text})"
    else:
        found = f"unreadable data ({type(err).__name__}: {text})"
    return DataFileError(path, "file", f"a complete {what}", found, "the download is damaged; fetch it again")


def check_shape(
    path: str | os.PathLike, field: str, value: Any, shape: Sequence[int | None], what: str = ""
) -> np.ndarray:
    """``value`` as an array whose shape matches ``shape`` (None = any size on that axis).

    Raises:
        DataFileError: naming ``path``, ``field``, the expected and the found shape.
    """
    try:
        array = np.asarray(value)
        got: tuple[int, ...] | str = tuple(array.shape)
    except (ValueError, TypeError):  # ragged lists
        array, got = None, f"a ragged {type(value).__name__}"
    ok = isinstance(got, tuple) and len(got) == len(shape)
    ok = ok and all(s is None or s == g for s, g in zip(shape, got, strict=True))
    if not ok:
        dims = ", ".join("N" if s is None else str(s) for s in shape)
        want = f"shape ({dims}{',' if len(shape) == 1 else ''})" + (f" ({what})" if what else "")
        raise DataFileError(path, field, want, f"shape {got}" if isinstance(got, tuple) else got)
    return array
