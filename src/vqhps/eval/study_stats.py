"""The scarce-data study's statistics, table and plot: mean over seeds with a 95 % interval per data size.

**How seeds and test images are counted.** At one training fraction, model ``m`` has a per-image error
``e[s, i]`` for seed ``s`` (S seeds: S subsets of the train images and S training runs) and test image
``i`` (the same N test images for every seed). The point is ``mean_s mean_i e[s, i]``. Its 95 % interval
is a two-level bootstrap: each of ``draws`` resamples draws S seeds with replacement *and* N test images
with replacement (the same images for every drawn seed, as the seeds share the test set) and takes the
same mean; the interval is the 2.5 and 97.5 percentiles. It so counts both the spread between training
runs (which subset, which initialisation) and the finite test set. With 3 seeds the seed level is coarse:
the interval is an honest lower bound of the uncertainty, not a tight one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from vqhps.io.atomic import atomic_path

METRICS: tuple[str, ...] = ("pve_mm", "pa_mpjpe_mm", "edge_distortion")
METHOD_LABELS = {"vqhps": "VQ-HPS", "baseline": "Regression baseline", "constant": "Constant predictor"}


def bootstrap_interval(
    errors: np.ndarray, draws: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """Mean of ``errors`` (S seeds, N test images) and its two-level bootstrap interval (module docstring).

    Returns:
        (mean, low, high) in the units of ``errors``.
    """
    errors = np.asarray(errors, np.float64)
    if errors.ndim != 2 or not errors.size:
        raise ValueError(f"errors must be (seeds, test images) and non-empty, got {errors.shape}")
    n_seeds, n_images = errors.shape
    rng = np.random.default_rng(seed)
    image_counts = rng.multinomial(n_images, np.full(n_images, 1 / n_images), size=draws)  # (B, N)
    per_seed = image_counts @ errors.T / n_images  # (B, S): each seed's mean over the drawn images
    seed_counts = rng.multinomial(n_seeds, np.full(n_seeds, 1 / n_seeds), size=draws)  # (B, S)
    means = (seed_counts * per_seed).sum(1) / n_seeds
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(errors.mean()), float(low), float(high)


def summary_frame(
    errors: Mapping[tuple[str, float], Mapping[str, np.ndarray]],
    n_train: Mapping[float, float],
    draws: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per (method, fraction): ``n_train`` (mean over seeds), ``n_seeds``, ``n_test`` and per metric
    ``<metric>``, ``<metric>_lo``, ``<metric>_hi`` (mean and 95 % interval).

    Args:
        errors: (method, fraction) -> metric -> (S, N) per-seed, per-image values (:data:`METRICS`).
        n_train: fraction -> mean number of training images over the seeds.
    """
    rows = []
    for (method, fraction), by_metric in errors.items():
        first = np.asarray(next(iter(by_metric.values())))
        row: dict[str, object] = {
            "method": method,
            "fraction": fraction,
            "n_train": float(n_train.get(fraction, np.nan)),
            "n_seeds": int(first.shape[0]),
            "n_test": int(first.shape[1]),
        }
        for metric, values in by_metric.items():
            mean, low, high = bootstrap_interval(values, draws, seed)
            row |= {metric: mean, f"{metric}_lo": low, f"{metric}_hi": high}
        rows.append(row)
    return pd.DataFrame(rows)


def markdown_table(summary: pd.DataFrame, metrics: Sequence[str] = METRICS) -> str:
    """The summary as a Markdown table: ``mean [low, high]`` per metric, methods by data size."""
    header = ["Method", "Train images", "Seeds"] + [m for m in metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in summary.sort_values(["method", "fraction"]).iterrows():
        label = METHOD_LABELS.get(row["method"], row["method"])
        cells = [label, f"{row['n_train']:.0f}", f"{row['n_seeds']}"]
        for m in metrics:
            digits = 3 if m == "edge_distortion" else 1
            cells.append(f"{row[m]:.{digits}f} [{row[f'{m}_lo']:.{digits}f}, {row[f'{m}_hi']:.{digits}f}]")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_summary(summary: pd.DataFrame, folder: Path) -> dict[str, Path]:
    """``study_table.csv`` and ``study_table.md`` in ``folder`` (atomic writes)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"csv": folder / "study_table.csv", "md": folder / "study_table.md"}
    with atomic_path(paths["csv"]) as tmp:
        summary.to_csv(tmp, index=False)
    with atomic_path(paths["md"]) as tmp:
        Path(tmp).write_text(markdown_table(summary))
    return paths


def plot_study(
    summary: pd.DataFrame, path: Path, title: str = "", references: Mapping[str, float] | None = None
) -> Path:
    """PVE, PA-MPJPE and edge distortion against the number of training images, VQ-HPS and the baseline
    on each chart (mean over seeds, 95 % interval as error bars); the constant predictor as a dashed line,
    ``references`` (metric -> value, e.g. the GT meshes' edge distortion) as dotted lines."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(METRICS), figsize=(5 * len(METRICS), 4))
    for ax, metric in zip(axes, METRICS, strict=True):
        for method, part in summary.groupby("method"):
            part = part.sort_values("n_train")
            if method == "constant":
                ax.axhline(part[metric].iloc[0], ls="--", c="grey", label=METHOD_LABELS[method])
                continue
            err = np.stack([part[metric] - part[f"{metric}_lo"], part[f"{metric}_hi"] - part[metric]])
            ax.errorbar(part["n_train"], part[metric], yerr=err, marker="o", capsize=3,
                        label=METHOD_LABELS.get(method, method))  # fmt: skip
        if metric in (references or {}):
            ax.axhline(references[metric], ls=":", c="black", label="ground-truth meshes")
            ax.legend()
        ax.set_xscale("log")
        ax.set_xlabel("training images")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    axes[0].legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path
