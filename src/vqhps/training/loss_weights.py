"""Loss weights of the two image models (torch-free): the one definition of each.

``params.yaml``'s ``<experiment>.train_vqhps.loss_weights`` is validated as a :class:`VQHPSLossWeights`
and ``train_baseline.loss_weights`` as a :class:`RegressionLossWeights` (:mod:`vqhps.config`); the losses
(:mod:`vqhps.training.image_tasks`, :func:`vqhps.models.regression.regression_losses`) read the same
objects. Defaults are 1 (the paper's for VQ-HPS); a params file states every weight (``PARAMS_REQUIRED``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar


def _check_weights(obj: object) -> None:
    for f in fields(obj):
        value = getattr(obj, f.name)
        if not value >= 0:  # also refuses NaN
            raise ValueError(f"{f.name}: a loss weight must be >= 0, got {value}")


@dataclass(frozen=True)
class VQHPSLossWeights:
    """Weights of the VQ-HPS terms (reference §3.5; paper: all 1)."""

    tokens: float = 1.0  # token cross-entropy
    rotation: float = 1.0  # rotation-matrix MSE
    reprojection: float = 1.0  # L1 2D reprojection of the regressed joints

    PARAMS_REQUIRED: ClassVar[tuple[str, ...]] = ("tokens", "rotation", "reprojection")

    def __post_init__(self) -> None:
        _check_weights(self)


@dataclass(frozen=True)
class RegressionLossWeights:
    """Weights of the regression baseline's terms (all 1 by default, like VQ-HPS's)."""

    vertex: float = 1.0  # L1 on canonical vertices
    joint: float = 1.0  # L1 on regressed canonical joints
    rotation: float = 1.0  # rotation-matrix MSE
    reprojection: float = 1.0  # L1 2D reprojection

    PARAMS_REQUIRED: ClassVar[tuple[str, ...]] = ("vertex", "joint", "rotation", "reprojection")

    def __post_init__(self) -> None:
        _check_weights(self)
