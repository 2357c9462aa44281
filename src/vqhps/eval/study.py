"""The scarce-data study's regimes: one per (training fraction, seed) of ``<experiment>.scarce_study``.

A study regime is an ordinary regime (:class:`vqhps.config.RegimeParams`): the train_vqhps and
train_baseline stages run it with ``--regime study_f0025_s1`` as they run ``full`` or ``scarce``. Its name
holds the fraction in per mille (``f0025`` = 2.5 %) and the seed; the stages derive the image subset and
the training seed from the regime name (:func:`vqhps.infra.seeding.stage_seed`), so each seed of a fraction
trains on another seeded subset, and VQ-HPS and the baseline of one regime on the same images. Within
one seed, a smaller fraction's images are a subset of a larger fraction's only by chance (each regime
name seeds its own subset).
"""

from __future__ import annotations

import re

from vqhps.config import RegimeParams, StudyParams

PREFIX = "study_"
_NAME = re.compile(r"study_f(\d{4})_s(\d+)")


def study_regime_name(fraction: float, seed: int) -> str:
    """``study_f<per mille, 4 digits>_s<seed>``: (0.025, 1) -> ``study_f0025_s1``; 1.0 -> ``f1000``."""
    return f"{PREFIX}f{round(fraction * 1000):04d}_s{seed}"


def parse_study_name(name: str) -> tuple[float, int]:
    """(fraction, seed) of a study regime name.

    Raises:
        ValueError: ``name`` is not a study regime name.
    """
    match = _NAME.fullmatch(name)
    if not match:
        raise ValueError(f"{name!r} is not a study regime name (study_f<per mille>_s<seed>)")
    return int(match.group(1)) / 1000, int(match.group(2))


def expand_study(study: StudyParams) -> dict[str, RegimeParams]:
    """Every (fraction, seed) regime of the study, fractions outer, seeds inner, in params order."""
    return {
        study_regime_name(fraction, seed): RegimeParams(
            sources=tuple(study.sources),
            fraction=float(fraction),
            steps=study.steps,
            label=f"{fraction * 100:g} % of the train images, seed {seed}",
            table="study",
        )
        for fraction in study.fractions
        for seed in study.seeds
    }
