"""Tests for vqhps.eval.bootstrap: sequence-level (cluster) bootstrap intervals of pooled frame means."""

from __future__ import annotations

import numpy as np
import pytest

from vqhps.eval.bootstrap import paired_bootstrap, sequence_bootstrap


def _clustered(seed: int = 0, groups: int = 10, frames: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Sequence g has offset 10 * g mm and tiny frame noise: the spread is all between sequences."""
    rng = np.random.default_rng(seed)
    values = np.repeat(10.0 * np.arange(groups), frames) + rng.normal(scale=0.1, size=groups * frames)
    return values, np.repeat([f"s{g}" for g in range(groups)], frames)


def test_resampling_sequences_gives_the_between_sequence_width():
    values, groups = _clustered()
    iv = sequence_bootstrap(values, groups, n_boot=2000, seed=0)
    # mean of 10 sequence offsets 0..90: sd 28.7, standard error 28.7 / sqrt(10) = 9.1 -> half-width ~ 17.8
    assert iv.mean == pytest.approx(values.mean()) and iv.lo < iv.mean < iv.hi
    assert 12.0 < iv.half_width < 24.0
    assert (iv.n_frames, iv.n_sequences) == (1000, 10)
    # resampling frames as if independent would claim ~1.8 mm: ten times too narrow
    naive = sequence_bootstrap(values, np.arange(len(values)), n_boot=2000, seed=0)
    assert naive.half_width < iv.half_width / 5


def test_seeded_and_pooled_over_frames():
    values = np.array([1.0, 1.0, 1.0, 10.0, 4.0])
    groups = ["a", "a", "a", "b", "c"]
    first = sequence_bootstrap(values, groups, n_boot=500, seed=3)
    assert first == sequence_bootstrap(values, groups, n_boot=500, seed=3), "same seed, same interval"
    many, seqs = _clustered()
    assert sequence_bootstrap(many, seqs, 200, seed=3) != sequence_bootstrap(many, seqs, 200, seed=4)
    assert first.mean == pytest.approx(17.0 / 5), "the frame mean, not the mean of sequence means"


def test_one_sequence_has_a_zero_width_interval_and_nan_frames_are_dropped():
    iv = sequence_bootstrap(np.array([1.0, np.nan, 3.0]), ["a", "a", "a"], n_boot=10, seed=0)
    assert (iv.mean, iv.lo, iv.hi, iv.n_frames, iv.n_sequences) == (2.0, 2.0, 2.0, 2, 1)


def test_paired_difference_cancels_the_shared_sequence_effect():
    values, groups = _clustered(seed=1)
    better = values - 3.0 + np.random.default_rng(2).normal(scale=0.1, size=values.shape)
    diff = paired_bootstrap(better, values, groups, n_boot=1000, seed=0)
    assert diff.lo < -3.0 < diff.hi and diff.half_width < 0.2, "paired: only the frame noise is left"
    alone = sequence_bootstrap(better, groups, n_boot=1000, seed=0)
    assert alone.half_width > 50 * diff.half_width, "each method alone carries the sequence spread"


def test_bad_inputs_are_one_clear_error():
    with pytest.raises(ValueError, match="differ in length"):
        sequence_bootstrap(np.ones(3), ["a", "b"], n_boot=10, seed=0)
    with pytest.raises(ValueError, match="no finite value"):
        sequence_bootstrap(np.array([np.nan]), ["a"], n_boot=10, seed=0)
    with pytest.raises(ValueError, match="n_boot"):
        sequence_bootstrap(np.ones(2), ["a", "b"], n_boot=0, seed=0)
