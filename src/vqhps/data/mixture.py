"""The original's training mixture: each item draws its dataset with fixed probabilities, then a row of it.

VQ-HPS's ``MixedDataset`` (after BEDLAM's) holds one dataset per label file, has the length of the largest,
and at item ``i`` draws dataset ``k`` with probability ``ratios[k]`` (default ``1 / K``) and returns its row
``i mod len(k)``. An epoch is therefore ``max(len)`` items and a small dataset is seen as often as a large
one. :class:`SourceMixture` does the same over the ``source`` groups of one image dataset, with the draw
seeded by (seed, epoch, index), so a resumed run sees the same items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from torch.utils.data import Dataset


def source_groups(sources: Sequence[str], names: Sequence[str]) -> dict[str, np.ndarray]:
    """Row indices of each source in ``names`` order: ``{source: (n_source,) int64}``.

    Raises:
        ValueError: a named source has no row.
    """
    src = np.asarray(sources, dtype=object)
    groups = {n: np.flatnonzero(src == n) for n in names}
    empty = [n for n, g in groups.items() if not len(g)]
    if empty:
        raise ValueError(
            f"mixture sources {empty} have no training row; present: {sorted(set(src.tolist()))}"
        )
    return groups


def mixture_probabilities(names: Sequence[str], weights: Mapping[str, float] | None) -> np.ndarray:
    """(K,) probabilities of the sources ``names``: ``weights`` normalised, or 1/K each when None.

    Raises:
        ValueError: ``weights`` names other sources than ``names``, or a weight is negative / all are 0.
    """
    if weights is None:
        return np.full(len(names), 1.0 / len(names))
    if set(weights) != set(names):
        raise ValueError(
            f"weights name {sorted(weights)}; they must name exactly the sources {sorted(names)}"
        )
    w = np.array([float(weights[n]) for n in names])
    if (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"weights must be >= 0 with a positive sum, got {dict(weights)}")
    return w / w.sum()


class SourceMixture(Dataset):
    """Items of ``dataset`` drawn source by source with the given probabilities (the original's MixedDataset).

    Args:
        dataset: the regime's training images (``ImageCropDataset``: ``set_epoch`` and ``item(row, draw)``,
            or any dataset with ``set_epoch``).
        sources: (N,) the ``source`` of each of its rows.
        names: the sources to mix, in order.
        weights: source -> weight (normalised here); None = equal, the original's default.
        seed: seeds the per-item source draw.
    """

    def __init__(
        self,
        dataset: Dataset,
        sources: Sequence[str],
        names: Sequence[str],
        weights: Mapping[str, float] | None = None,
        seed: int = 0,
    ) -> None:
        self.dataset, self.seed, self.epoch = dataset, int(seed), 0
        self.names = list(names)
        self.groups = source_groups(sources, self.names)
        self.probabilities = mixture_probabilities(self.names, weights)
        self._cumulative = np.cumsum(self.probabilities)
        self.length = max(len(g) for g in self.groups.values())

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def __len__(self) -> int:
        """The largest source's row count: the original's epoch."""
        return self.length

    def row_of(self, index: int) -> int:
        """Row of ``dataset`` behind item ``index`` this epoch (source drawn, then ``index mod n``)."""
        u = np.random.default_rng([self.seed, self.epoch, int(index), 1]).random()
        k = min(int(np.searchsorted(self._cumulative, u, side="right")), len(self.names) - 1)
        group = self.groups[self.names[k]]
        return int(group[int(index) % len(group)])

    def __getitem__(self, index: int) -> Any:
        row = self.row_of(index)
        item = getattr(self.dataset, "item", None)
        # the augmentation is drawn for the mixture's index: a row drawn twice in an epoch is augmented twice
        return item(row, draw=int(index)) if item is not None else self.dataset[row]
