"""Tests for vqhps.eval.plots: PNGs are written with sane sizes and meshes really land on the pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from vqhps.eval.plots import (
    GT_COLOR,
    PRED_COLOR,
    plot_error_histograms,
    plot_overlay_sheet,
    plot_token_accuracy_vs_pve,
    plot_training_curves,
    render_mesh_overlay,
)


def _png(path: Path) -> np.ndarray:
    assert path.is_file() and path.stat().st_size > 1000, f"{path} written and non-trivial"
    with Image.open(path) as im:
        assert im.format == "PNG", "a real PNG"
        w, h = im.size
        assert 200 <= w <= 4000 and 150 <= h <= 4000, f"sane image size {w}x{h}"
        return np.asarray(im.convert("RGB"))


def _inside_triangle(tri: np.ndarray, h: int, w: int, margin: float) -> np.ndarray:
    """Pixel-centre mask inside triangle ``tri`` (3, 2), grown (margin > 0) or shrunk (< 0) by margin px."""
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    pts = np.stack([xs, ys], -1)
    inside = np.ones((h, w), bool)
    centre = tri.mean(0)
    for a, b in ((0, 1), (1, 2), (2, 0)):
        edge = tri[b] - tri[a]
        normal = np.array([edge[1], -edge[0]]) / np.linalg.norm(edge)
        if (centre - tri[a]) @ normal < 0:
            normal = -normal
        inside &= (pts - tri[a]) @ normal >= -margin
    return inside


def test_error_histograms(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    per_sample = {
        "VQ-HPS/vqhps/pve_mm": rng.gamma(5.0, 10.0, 200),
        "regression/vqhps/pve_mm": np.append(rng.gamma(6.0, 10.0, 200), np.nan),
        "VQ-HPS/standard/pa_mpjpe_mm": rng.gamma(4.0, 10.0, 200),
        "oracle_pve": rng.gamma(2.0, 2.0, 50),
    }
    image = _png(plot_error_histograms(per_sample, tmp_path / "hist.png"))
    assert image.std() > 10, "the plot is not blank"


@pytest.mark.parametrize("bad", [{}, {"a/pve_mm": np.array([np.nan, np.inf])}])
def test_error_histograms_reject_empty(tmp_path: Path, bad: dict) -> None:
    with pytest.raises(ValueError, match="per_sample"):
        plot_error_histograms(bad, tmp_path / "hist.png")
    assert not (tmp_path / "hist.png").exists(), "no partial file"


def test_training_curves_wide_csv_and_long_frame(tmp_path: Path) -> None:
    steps = np.arange(0, 200, 10)
    wide = pd.DataFrame({"step": steps, "train_loss": np.exp(-steps / 50) + 0.1, "val_pve_mm": np.nan})
    wide.loc[wide.step % 50 == 0, "val_pve_mm"] = 80.0 - steps[steps % 50 == 0] / 10
    (tmp_path / "train_vqhps").mkdir()
    wide.to_csv(tmp_path / "train_vqhps" / "curves.csv", index=False)
    long = pd.DataFrame(
        {"step": np.repeat(steps, 2), "metric": ["train_loss", "token_acc"] * len(steps), "value": 0.5}
    )
    out = plot_training_curves(
        {"vqhps": tmp_path / "train_vqhps" / "curves.csv", "baseline": long}, tmp_path / "curves.png"
    )
    assert _png(out).std() > 10, "the plot is not blank"
    seq = plot_training_curves([tmp_path / "train_vqhps" / "curves.csv"], tmp_path / "curves_seq.png")
    _png(seq)


def test_training_curves_reject_non_numeric(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no numeric metric"):
        plot_training_curves({"x": pd.DataFrame({"step": [0, 1], "note": ["a", "b"]})}, tmp_path / "c.png")


def test_overlay_changes_pixels_only_where_the_mesh_is() -> None:
    h, w = 48, 64
    image = np.random.default_rng(1).integers(0, 256, (h, w, 3), dtype=np.uint8)
    tri = np.array([[10.0, 8.0], [50.0, 14.0], [30.0, 40.0]])
    out = render_mesh_overlay(image, tri, np.array([[0, 1, 2]]), alpha=0.6)
    assert out.shape == image.shape and out.dtype == np.uint8, "same size as the input image"
    inner = _inside_triangle(tri, h, w, margin=-1.0)
    outer = ~_inside_triangle(tri, h, w, margin=1.0)
    assert inner.sum() > 300 and outer.sum() > 1500, "test geometry sane"
    changed = np.any(out != image, axis=-1)
    assert changed[inner].mean() > 0.99, "pixels under the mesh are changed"
    assert not changed[outer].any(), "pixels away from the mesh are the original image"
    expected = 0.6 * 255 * np.array(PRED_COLOR) + 0.4 * image[inner]
    np.testing.assert_allclose(out[inner], expected, atol=2.5, err_msg="alpha blend of the mesh colour")


@pytest.mark.parametrize("face_order", [[0, 1], [1, 0]])
def test_overlay_painters_order_by_depth(face_order: list[int]) -> None:
    # Two opaque overlapping triangles; the near one (depth 1) must win whatever the face order.
    image = np.zeros((40, 40, 3), np.uint8)
    verts = np.array([[5, 5], [35, 5], [20, 35], [5, 30], [35, 30], [20, 2]], dtype=float)
    faces = np.array([[0, 1, 2], [3, 4, 5]])[face_order]
    depth = np.array([1.0, 1.0, 1.0, 5.0, 5.0, 5.0])  # first triangle near, second far
    out = render_mesh_overlay(image, verts, faces, depth=depth, color=(1.0, 1.0, 1.0), alpha=1.0)
    near, far = out[15, 20], out[28, 8]  # overlap pixel; far-only pixel
    np.testing.assert_allclose(near, 255, atol=1, err_msg="overlap shows the near (fully lit) face")
    assert far.max() < 200 and far.min() > 100, f"far face is drawn, darker: {far}"


def test_overlay_rejects_bad_image() -> None:
    with pytest.raises(ValueError, match="uint8"):
        render_mesh_overlay(np.zeros((8, 8, 3), np.float32), np.zeros((3, 2)), np.array([[0, 1, 2]]))


def test_overlay_sheet(tmp_path: Path) -> None:
    n, h, w = 3, 64, 64
    images = np.zeros((n, h, w, 3), np.uint8)
    square = np.array([[16, 16], [48, 16], [48, 48], [16, 48]], float)
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    pred = np.stack([square + i for i in range(n)])
    gt = np.stack([square * 0.8 for _ in range(n)])
    sheet = _png(
        plot_overlay_sheet(images, pred, gt, faces, tmp_path / "sheet.png", pred_depth=np.ones((n, 4)))
    )
    for color, name in ((PRED_COLOR, "prediction"), (GT_COLOR, "ground truth")):
        target = 0.6 * 255 * np.array(color)  # mesh over a black image, alpha 0.6
        hits = np.all(np.abs(sheet.astype(float) - target) < 6, axis=-1).sum()
        assert hits > 500, f"{name} mesh colour present on the sheet ({hits} px)"


def test_token_accuracy_vs_pve(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    acc = rng.uniform(0.0, 1.0, 300)
    series = {
        "vqhps_full": (acc, 120.0 - 80.0 * acc + rng.normal(0, 5, 300)),
        "vqhps_scarce": (acc, 90.0 + acc),
    }
    image = _png(plot_token_accuracy_vs_pve(series, tmp_path / "tok.png"))
    assert image.std() > 10, "the plot is not blank"
    with pytest.raises(ValueError, match="300 token accuracies but 2 PVE"):
        plot_token_accuracy_vs_pve({"x": (acc, np.ones(2))}, tmp_path / "bad.png")
    with pytest.raises(ValueError, match="empty"):
        plot_token_accuracy_vs_pve({}, tmp_path / "bad.png")
