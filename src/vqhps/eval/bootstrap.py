"""Seeded cluster bootstrap: 95 % confidence intervals of a per-frame mean, resampling whole sequences.

Frames of one video sequence are strongly correlated (same person, same camera, neighbouring poses), so
resampling frames would give intervals far too narrow. Every interval here resamples *sequences* with
replacement and recomputes the pooled frame mean (the frames of a sequence drawn twice count twice), the
statistic the tables report. The interval is the percentile interval of ``n_boot`` such means.

A paired difference (method A minus method B on the same frames) is bootstrapped the same way on the
per-frame differences, so the interval accounts for the two methods erring on the same hard frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A pooled mean over frames with its sequence-bootstrap confidence interval.

    Attributes:
        mean: mean over all frames (same unit as the values, e.g. mm).
        lo, hi: percentile bounds of the ``level`` interval; equal to ``mean`` when there is one sequence.
        n_frames: frames averaged.
        n_sequences: distinct sequences (the resampled units).
    """

    mean: float
    lo: float
    hi: float
    n_frames: int
    n_sequences: int

    @property
    def half_width(self) -> float:
        """(hi - lo) / 2: the ``±`` of a table cell."""
        return (self.hi - self.lo) / 2.0


def _group_sums(values: np.ndarray, groups: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """(N,) values, (N,) group labels -> per-group sums (G,) and frame counts (G,)."""
    _, inverse = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)
    sums = np.bincount(inverse, weights=values)
    counts = np.bincount(inverse).astype(np.float64)
    return sums, counts


def sequence_bootstrap(
    values: np.ndarray,
    groups: Sequence,
    n_boot: int,
    seed: int,
    level: float = DEFAULT_LEVEL,
) -> Interval:
    """Pooled mean of ``values`` and its percentile interval, resampling the groups with replacement.

    Args:
        values: (N,) per-frame values (e.g. PVE in mm); NaN frames are dropped first.
        groups: (N,) sequence label of each frame (any hashable values, compared as strings).
        n_boot: bootstrap replicates (e.g. 1000).
        seed: seeds ``numpy.random.default_rng``: the same inputs and seed give the same interval.
        level: coverage of the interval, in (0, 1).

    Returns:
        An :class:`Interval`.

    Raises:
        ValueError: lengths differ, no finite value, ``n_boot < 1`` or ``level`` outside (0, 1).
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    groups = np.asarray(groups, dtype=object).reshape(-1)
    if len(values) != len(groups):
        raise ValueError(f"values ({len(values)}) and groups ({len(groups)}) differ in length")
    if n_boot < 1 or not 0.0 < level < 1.0:
        raise ValueError(f"need n_boot >= 1 and 0 < level < 1, got n_boot={n_boot}, level={level}")
    finite = np.isfinite(values)
    values, groups = values[finite], groups[finite]
    if not len(values):
        raise ValueError("no finite value to average")
    sums, counts = _group_sums(values, groups)
    mean = float(sums.sum() / counts.sum())
    n_groups = len(sums)
    if n_groups == 1:
        return Interval(mean, mean, mean, int(counts.sum()), 1)
    rng = np.random.default_rng(seed)
    # How often each sequence is drawn in each replicate: (n_boot, G) multinomial counts of G draws.
    draws = rng.multinomial(n_groups, np.full(n_groups, 1.0 / n_groups), size=n_boot).astype(np.float64)
    means = (draws @ sums) / (draws @ counts)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return Interval(mean, float(lo), float(hi), int(counts.sum()), n_groups)


def paired_bootstrap(
    values_a: np.ndarray,
    values_b: np.ndarray,
    groups: Sequence,
    n_boot: int,
    seed: int,
    level: float = DEFAULT_LEVEL,
) -> Interval:
    """Interval of mean(A - B) over the same frames, resampling sequences (pairs stay together).

    Args:
        values_a, values_b: (N,) per-frame values of two methods on the same frames, in the same order.
        groups: (N,) sequence label of each frame.
        n_boot, seed, level: as :func:`sequence_bootstrap`.

    Returns:
        An :class:`Interval` of the difference A - B (negative: A has the smaller error).
    """
    a, b = np.asarray(values_a, np.float64), np.asarray(values_b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired values differ in shape: {a.shape} vs {b.shape}")
    return sequence_bootstrap(a - b, groups, n_boot, seed, level)
