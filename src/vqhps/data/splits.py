"""Seeded train/val/test assignment of items."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from vqhps.io.schemas import SPLITS


def assign_splits(n: int, fractions: Mapping[str, float], seed: int) -> np.ndarray:
    """Split label of each of ``n`` items: (n,) array of "train"/"val"/"test" strings.

    The counts are ``round(fraction * n)`` (train takes the remainder) and the assignment is a
    seeded permutation, so the same seed always gives the same split.
    """
    counts = {s: int(round(fractions[s] * n)) for s in SPLITS if s != "train"}
    counts["train"] = n - sum(counts.values())
    if counts["train"] < 0:
        raise ValueError(f"split fractions {dict(fractions)} leave no room for train with n={n}")
    labels = np.empty(n, dtype=object)
    order = np.random.default_rng(seed).permutation(n)
    start = 0
    for split in SPLITS:
        labels[order[start : start + counts[split]]] = split
        start += counts[split]
    return labels
