"""Where every stage writes: ``<results>/<experiment>/<stage>/``, logs in ``<results>/logs/<experiment>/``."""

from __future__ import annotations

from pathlib import Path


def stage_dir(results: str | Path, experiment: str, stage: str) -> Path:
    """Output folder of ``stage`` in ``experiment``."""
    return Path(results) / experiment / stage


def log_path(results: str | Path, experiment: str, stage: str) -> Path:
    """Log file of a stage run; outside every DVC output folder so DVC never caches logs."""
    return Path(results) / "logs" / experiment / f"{stage}.log"
