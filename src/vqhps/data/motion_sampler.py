"""File-then-frame sampling of the tokenizer's training meshes (Mesh-VQ-VAE's motion-file distribution).

The original draws, at every access, a uniformly random motion file and then a uniformly random frame of
that file, so every file weighs the same whatever its length. ``prepare_meshes`` stores every k-th frame of
every motion file with the row id :func:`motion_row_id` (``<source>-<file>-f<frame>``); the reader groups
the rows by file from those ids and draws file first, stored frame second. Rows whose id names no frame
(the demo's generated meshes, ``anny-0000042``) are one group each: the draw is then uniform over rows,
exactly the generator calls the reader made before files were known.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["motion_row_id", "motion_of_id", "FileFrameSampler"]

_FRAME_SUFFIX = re.compile(r"^(?P<file>.+)-f(?P<frame>\d+)$")


def motion_row_id(source: str, file_index: int, frame: int) -> str:
    """Row id of frame ``frame`` of motion file ``file_index`` (sorted order) of ``source``."""
    return f"{source}-{file_index:06d}-f{frame:06d}"


def motion_of_id(row_id: str) -> str:
    """The motion (file) a row id belongs to: the id without its ``-f<frame>`` suffix, else the id itself."""
    match = _FRAME_SUFFIX.match(row_id)
    return match.group("file") if match else row_id


class FileFrameSampler:
    """Seeded draws of row indices: a uniform motion file, then a uniform stored frame of that file.

    Args:
        ids: (N,) row ids in the order of the training tensor (see :func:`motion_row_id`).

    Attributes:
        n_rows: N.
        n_files: number of distinct motions.
        order: (N,) int64 row indices sorted by motion (stable: ascending row within a motion).
        starts, counts: (n_files,) int64 offset in ``order`` and number of rows of each motion.
    """

    def __init__(self, ids: Sequence[str]):
        motions = np.array([motion_of_id(str(i)) for i in ids], dtype=object)
        self.n_rows = len(motions)
        if not self.n_rows:
            raise ValueError("no training rows to sample from")
        _, inverse, counts = np.unique(motions, return_inverse=True, return_counts=True)
        self.order = torch.as_tensor(np.argsort(inverse, kind="stable"), dtype=torch.int64)
        self.counts = torch.as_tensor(counts, dtype=torch.int64)
        self.starts = torch.cumsum(self.counts, 0) - self.counts
        self.n_files = len(counts)

    @property
    def per_row(self) -> bool:
        """True when every motion has one row: the draw is plain uniform over rows."""
        return self.n_files == self.n_rows

    def draw(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """(n,) int64 row indices; the state lives in ``generator`` alone (checkpoint it to resume).

        One group per row: ``torch.randint(0, N, (n,))``. Otherwise ``randint`` over files, then one
        ``rand`` per draw scaled to the file's row count (floor, so each stored frame has equal chance).
        """
        if self.per_row:
            return torch.randint(0, self.n_rows, (n,), generator=generator)
        files = torch.randint(0, self.n_files, (n,), generator=generator)
        u = torch.rand(n, generator=generator, dtype=torch.float64)
        counts = self.counts[files]
        offset = torch.minimum((u * counts).long(), counts - 1)
        return self.order[self.starts[files] + offset]
