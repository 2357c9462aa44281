"""Loss weights: one dataclass per model, checked where it is built."""

from __future__ import annotations

import math

import pytest

from vqhps.training.loss_weights import RegressionLossWeights, VQHPSLossWeights


@pytest.mark.parametrize("bad", [-0.5, math.nan])
def test_weights_must_be_non_negative(bad):
    with pytest.raises(ValueError, match="tokens"):
        VQHPSLossWeights(tokens=bad)
    with pytest.raises(ValueError, match="joint"):
        RegressionLossWeights(joint=bad)


def test_zero_weight_is_allowed_and_defaults_are_one():
    assert VQHPSLossWeights(reprojection=0.0).reprojection == 0.0
    assert (VQHPSLossWeights().tokens, RegressionLossWeights().vertex) == (1.0, 1.0)
