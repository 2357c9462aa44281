"""Training curves as CSV (a DVC plot): one row per logged step, one column per metric."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from vqhps.io.atomic import atomic_path


def write_curves_csv(path: str | Path, rows: Sequence[dict[str, float]]) -> None:
    """Write ``rows`` (each ``{"step": s, metric: value, ...}``) atomically; missing values stay empty."""
    keys = sorted({k for row in rows for k in row} - {"step"})
    with atomic_path(Path(path)) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["step", *keys])
        writer.writeheader()
        writer.writerows(
            {"step": int(row["step"]), **{k: v for k, v in row.items() if k != "step"}} for row in rows
        )
