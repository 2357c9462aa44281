"""PNG plots for evaluation: error histograms, training curves, mesh overlays (matplotlib Agg, no pyplot)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from vqhps.io.atomic import atomic_path

PRED_COLOR = (0.95, 0.55, 0.15)  # orange: predicted mesh
GT_COLOR = (0.2, 0.6, 0.95)  # blue: ground-truth mesh
STEP_COLUMNS = ("step", "global_step", "iteration", "iter", "epoch")
LONG_NAME_COLUMNS = ("metric", "key", "name")


def _new_figure(width_in: float, height_in: float, dpi: int = 100) -> Figure:
    # Figure + Agg canvas directly: no pyplot global state, works headless whatever MPLBACKEND says.
    fig = Figure(figsize=(width_in, height_in), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _save_png(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def _grid(n_panels: int, max_cols: int = 3) -> tuple[int, int]:
    cols = min(max_cols, max(1, n_panels))
    return math.ceil(n_panels / cols), cols


def plot_error_histograms(per_sample: Mapping[str, np.ndarray], path: str | Path, bins: int = 40) -> Path:
    """Histograms of per-sample errors, one panel per metric, one series per method.

    Args:
        per_sample: ``"<series>/<panel>"`` -> (B,) errors in mm, e.g. ``"VQ-HPS/vqhps/pve_mm"`` (series
            ``VQ-HPS``, panel ``vqhps/pve_mm``) or ``"vqhps/pve_mm"``; a key without ``/`` is its own panel.
            Non-finite values are dropped.
        path: output PNG path.
        bins: number of histogram bins shared by the series of a panel.

    Returns:
        ``path``.

    Raises:
        ValueError: ``per_sample`` is empty or a series has no finite value.
    """
    if not per_sample:
        raise ValueError("per_sample is empty: nothing to plot")
    panels: dict[str, dict[str, np.ndarray]] = {}
    for key, values in per_sample.items():
        series, _, panel = key.partition("/")
        panel, series = (panel, series) if panel else (series, "")
        finite = np.asarray(values, dtype=np.float64).reshape(-1)
        finite = finite[np.isfinite(finite)]
        if finite.size == 0:
            raise ValueError(f"per_sample[{key!r}] has no finite value to plot")
        panels.setdefault(panel, {})[series] = finite
    rows, cols = _grid(len(panels))
    fig = _new_figure(4.2 * cols, 3.2 * rows)
    for i, (panel, series) in enumerate(panels.items()):
        ax = fig.add_subplot(rows, cols, i + 1)
        lo = min(v.min() for v in series.values())
        hi = max(v.max() for v in series.values())
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
        for name, values in series.items():
            label = f"{name or panel} (mean {values.mean():.1f}, n={values.size})"
            ax.hist(values, bins=edges, alpha=0.5, label=label)
        ax.set_title(panel)
        ax.set_xlabel(panel.rsplit("/", 1)[-1].replace("_mm", " (mm)"))
        ax.set_ylabel("samples")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _save_png(fig, path)


def plot_token_accuracy_vs_pve(
    series: Mapping[str, tuple[np.ndarray, np.ndarray]], path: str | Path, protocol: str = "vqhps"
) -> Path:
    """Per-frame token accuracy against PVE, one panel per model, with the Pearson correlation.

    Args:
        series: model label -> ((N,) token accuracy as a fraction in [0, 1], (N,) PVE in mm).
        path: output PNG path.
        protocol: the protocol of the PVE (axis label).

    Returns:
        ``path``.

    Raises:
        ValueError: ``series`` is empty, or a pair has different lengths or no finite point.
    """
    if not series:
        raise ValueError("series is empty: nothing to plot")
    rows, cols = _grid(len(series))
    fig = _new_figure(4.2 * cols, 3.4 * rows)
    for i, (name, (acc, pve)) in enumerate(series.items()):
        acc, pve = np.asarray(acc, np.float64).reshape(-1), np.asarray(pve, np.float64).reshape(-1)
        if acc.shape != pve.shape:
            raise ValueError(f"series[{name!r}]: {acc.size} token accuracies but {pve.size} PVE values")
        ok = np.isfinite(acc) & np.isfinite(pve)
        if not ok.any():
            raise ValueError(f"series[{name!r}] has no finite point to plot")
        acc, pve = 100.0 * acc[ok], pve[ok]
        corr = np.corrcoef(acc, pve)[0, 1] if acc.size > 1 and acc.std() > 0 and pve.std() > 0 else math.nan
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.scatter(acc, pve, s=6, alpha=0.5)
        ax.set_title(f"{name}: Pearson r = {corr:.2f}, n = {acc.size}")
        ax.set_xlabel("token accuracy (% of tokens equal to the GT mesh's)")
        ax.set_ylabel(f"{protocol} PVE (mm)")
    fig.tight_layout()
    return _save_png(fig, path)


def _read_curves(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    """One curves table -> wide frame indexed by step, one numeric column per metric."""
    frame = source.copy() if isinstance(source, pd.DataFrame) else pd.read_csv(source)
    step = next((c for c in STEP_COLUMNS if c in frame.columns), None)
    name_col = next((c for c in LONG_NAME_COLUMNS if c in frame.columns), None)
    if name_col is not None and "value" in frame.columns:
        # Long format (step, metric, value): pivot to one column per metric.
        index = step if step is not None else frame.groupby(name_col).cumcount()
        frame = frame.pivot_table(index=index, columns=name_col, values="value", aggfunc="last")
    elif step is not None:
        frame = frame.set_index(step)
    return frame.select_dtypes(include="number").sort_index()


def plot_training_curves(
    curves: Mapping[str, str | Path | pd.DataFrame] | Sequence[str | Path | pd.DataFrame], path: str | Path
) -> Path:
    """Training curves: one panel per metric column, one line per run.

    Args:
        curves: run label -> ``curves.csv`` path or DataFrame, or a sequence of them (labels = file stems or
            ``run<i>``). A table is wide (a step column ``step``/``epoch``/... plus one numeric column per
            metric; blank cells allowed) or long (``step, metric, value``).
        path: output PNG path.

    Returns:
        ``path``.

    Raises:
        ValueError: no curves, or no numeric metric column in any of them.
    """
    if not isinstance(curves, Mapping):
        curves = {
            (Path(c).parent.name or Path(c).stem) if not isinstance(c, pd.DataFrame) else f"run{i}": c
            for i, c in enumerate(curves)
        }
    if not curves:
        raise ValueError("curves is empty: give at least one curves.csv or DataFrame")
    frames = {label: _read_curves(src) for label, src in curves.items()}
    metrics = list(dict.fromkeys(col for f in frames.values() for col in f.columns))
    if not metrics:
        raise ValueError(f"no numeric metric column in curves {list(frames)}")
    rows, cols = _grid(len(metrics))
    fig = _new_figure(4.2 * cols, 3.0 * rows)
    for i, metric in enumerate(metrics):
        ax = fig.add_subplot(rows, cols, i + 1)
        for label, frame in frames.items():
            if metric in frame.columns:
                series = frame[metric].dropna()
                ax.plot(series.index.to_numpy(), series.to_numpy(), label=label, lw=1.2)
                if "loss" in str(metric) and len(series) and (series > 0).all():
                    ax.set_yscale("log")  # losses span decades; a log axis keeps the late part readable
        ax.set_title(str(metric))
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _save_png(fig, path)


def _face_colors(verts_2d: np.ndarray, faces: np.ndarray, depth: np.ndarray | None, color) -> tuple:
    """Painter's order (far faces first) and a depth shading; without depth keep the given face order."""
    base = np.asarray(color, dtype=np.float64)
    if depth is None:
        return faces, np.tile(base, (len(faces), 1))
    face_depth = np.asarray(depth, dtype=np.float64)[faces].mean(axis=1)
    order = np.argsort(-face_depth, kind="stable")
    span = np.ptp(face_depth) or 1.0
    near = 1.0 - (face_depth[order] - face_depth.min()) / span  # 1 = nearest face
    return faces[order], np.clip(base[None] * (0.55 + 0.45 * near[:, None]), 0.0, 1.0)


def render_mesh_overlay(
    image: np.ndarray,
    verts_2d: np.ndarray,
    faces: np.ndarray,
    depth: np.ndarray | None = None,
    color: tuple[float, float, float] = PRED_COLOR,
    alpha: float = 0.6,
) -> np.ndarray:
    """Draw a projected mesh over an image at the image's own resolution.

    Args:
        image: (H, W, 3) uint8 RGB.
        verts_2d: (V, 2) float vertex positions in pixels, x right / y down; the image spans [0, W] x [0, H].
        faces: (F, 3) int vertex indices.
        depth: optional (V,) camera-space depth (larger = farther) for painter's order and shading.
        color: RGB in [0, 1] of the mesh.
        alpha: opacity of the mesh triangles.

    Returns:
        (H, W, 3) uint8 RGB image with the mesh drawn semi-transparently.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
    faces = np.asarray(faces, dtype=np.int64)
    verts_2d = np.asarray(verts_2d, dtype=np.float64)
    if verts_2d.ndim != 2 or verts_2d.shape[1] != 2 or faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"verts_2d must be (V, 2) and faces (F, 3), got {verts_2d.shape}, {faces.shape}")
    h, w = image.shape[:2]
    fig = _new_figure(w, h, dpi=1)  # 1 dpi: figure inches == pixels, so the canvas is exactly W x H
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.imshow(image, extent=(0, w, h, 0), interpolation="nearest")
    ordered, colors = _face_colors(verts_2d, faces, depth, color)
    ax.add_collection(
        PolyCollection(
            verts_2d[ordered], facecolors=colors, edgecolors="none", alpha=alpha, antialiaseds=False
        )
    )
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_axis_off()
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def plot_overlay_sheet(
    images: np.ndarray,
    pred_verts_2d: np.ndarray,
    gt_verts_2d: np.ndarray,
    faces: np.ndarray,
    path: str | Path,
    pred_depth: np.ndarray | None = None,
    gt_depth: np.ndarray | None = None,
    max_samples: int = 8,
    pairs_per_row: int = 2,
) -> Path:
    """A contact sheet: each image with the predicted mesh (orange) beside it with the ground truth (blue).

    Args:
        images: (N, H, W, 3) uint8 RGB crops.
        pred_verts_2d: (N, V, 2) predicted vertices projected to pixels (x right, y down).
        gt_verts_2d: (N, V, 2) ground-truth vertices projected to pixels.
        faces: (F, 3) int mesh faces.
        path: output PNG path.
        pred_depth: optional (N, V) camera depth of the predicted vertices (painter's order, shading).
        gt_depth: optional (N, V) camera depth of the ground-truth vertices.
        max_samples: at most this many images are drawn (the first ones).
        pairs_per_row: prediction/ground-truth pairs per sheet row.

    Returns:
        ``path``.
    """
    images = np.asarray(images)
    n = min(len(images), max_samples)
    if n == 0:
        raise ValueError("images is empty: nothing to draw")
    if len(pred_verts_2d) < n or len(gt_verts_2d) < n:
        raise ValueError(f"need 2D vertices for {n} images, got {len(pred_verts_2d)} / {len(gt_verts_2d)}")
    rows = math.ceil(n / pairs_per_row)
    cols = 2 * min(pairs_per_row, n)
    fig = _new_figure(2.4 * cols, 2.5 * rows)
    for i in range(n):
        panels = (
            ("pred", pred_verts_2d[i], None if pred_depth is None else pred_depth[i], PRED_COLOR),
            ("GT", gt_verts_2d[i], None if gt_depth is None else gt_depth[i], GT_COLOR),
        )
        for j, (title, verts, depth, color) in enumerate(panels):
            ax = fig.add_subplot(rows, cols, 2 * i + j + 1)
            ax.imshow(render_mesh_overlay(images[i], verts, faces, depth, color))
            ax.set_title(f"#{i} {title}", fontsize=8)
            ax.set_axis_off()
    fig.tight_layout()
    return _save_png(fig, path)
