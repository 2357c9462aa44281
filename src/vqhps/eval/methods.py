"""Which method and training regime an evaluated result belongs to, and its key prefix in metrics.json.

``evaluate`` writes every number under its :attr:`MethodSpec.label` (``vqhps_full/...``, ``oracle/...``);
``make_tables`` reads the rows back under the same labels. No torch here, so the tables need no model.
"""

from __future__ import annotations

from dataclasses import dataclass

METHODS: tuple[str, ...] = ("vqhps", "baseline", "oracle", "constant")
NO_REGIME = "none"  # regime of the oracle row: it sees no training image


@dataclass(frozen=True)
class MethodSpec:
    """Which method and training regime a result belongs to."""

    method: str  # one of METHODS
    regime: str  # "full", "scarce", or NO_REGIME for the oracle

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; allowed: {list(METHODS)}")

    @property
    def label(self) -> str:
        """Key prefix in metrics.json: ``vqhps_full``, ``baseline_scarce``, ``oracle``."""
        return self.method if self.regime == NO_REGIME else f"{self.method}_{self.regime}"
