"""Photometric augmentation: shape/dtype kept, deterministic per generator, every op runs."""

from __future__ import annotations

import numpy as np
import pytest

from vqhps.data import photometric


@pytest.mark.parametrize("op", photometric.DEGRADATIONS + photometric.COLOUR, ids=lambda op: op.__name__)
def test_each_op_keeps_shape_and_dtype(op) -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)
    out = op(image, np.random.default_rng(1))
    assert out.shape == image.shape and out.dtype == np.uint8
    assert not np.array_equal(out, image)  # every op changes a noise image


def test_probability_zero_is_identity_and_draws_are_deterministic() -> None:
    image = np.random.default_rng(2).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    np.testing.assert_array_equal(
        photometric.photometric_augment(image, np.random.default_rng(3), 0.0), image
    )
    a = photometric.photometric_augment(image, np.random.default_rng(4), 1.0)
    b = photometric.photometric_augment(image, np.random.default_rng(4), 1.0)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, image)
