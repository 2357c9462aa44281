"""Training-loader items/s on one core with the paper's augmentation, against the code it replaced.

One item = what a DataLoader worker does per training image of the paper experiment: decode a stored
224 px JPEG crop (quality 95, as prepare_images writes them), draw flip/rotation/scale, warp, photometric
ops, flip keypoints and the SMPL-size (6,890-vertex) canonical mesh, normalise. "now" is the OpenCV warp
and the table normalisation, "before" the numpy warp (``reference_warp_affine``) and the per-pixel
normalisation they replaced; both run in the same process, alternating, ``--repeats`` times, and the ratio is
taken per repeat (paired). The 16-worker feed rate assumes one core per worker (the loader is
single-threaded: torch and OpenCV at one thread).

Usage: ``PYTHONPATH=src python benchmarks/bench_loader.py [--items 128] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vqhps.config import load_params
from vqhps.data import augment
from vqhps.data.image_dataset import ImageCropDataset
from vqhps.data.warp_reference import reference_warp_affine
from vqhps.training.image_setup import crop_configs

REPO = Path(__file__).resolve().parents[1]
SMPL_VERTICES = 6890
FEED_WORKERS = 16
TARGET_PER_CORE = 150.0


def _jpeg(rng: np.random.Generator, size: int) -> bytes:
    """A photo-like crop: smooth shading, a bright figure-sized blob and sensor noise, JPEG q95."""
    ys, xs = np.mgrid[:size, :size] / size
    shade = np.stack([xs, ys, 1 - xs * ys], -1) * rng.uniform(80, 200, 3)
    figure = np.exp(-(((xs - 0.5) / 0.18) ** 2 + ((ys - 0.5) / 0.35) ** 2))[..., None] * 120
    pixels = shade + figure + rng.normal(0, 12, (size, size, 3))
    buffer = io.BytesIO()
    Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def paper_dataset(n: int, seed: int = 0) -> ImageCropDataset:
    """``n`` training samples shaped like the paper image set, with the paper's train-time augmentation."""
    paper = load_params(REPO / "params.yaml").experiment("paper").section("image_training")
    train_cfg, _ = crop_configs(paper.crop_size, paper.bbox_rescale, paper.augment)
    rng = np.random.default_rng(seed)
    size = paper.crop_size
    samples = [
        {
            "image": _jpeg(rng, size),
            "bbox": np.array([0.0, 0.0, size, size]),
            "keypoints2d": np.concatenate([rng.uniform(0, size, (17, 2)), np.ones((17, 1))], 1),
            "global_rot": np.eye(3),
            "mesh_id": i,
            "canonical_verts": rng.normal(0, 0.3, (SMPL_VERTICES, 3)).astype(np.float32),
        }
        for i in range(n)
    ]
    half = np.arange(SMPL_VERTICES // 2)
    mirror = np.empty(SMPL_VERTICES, dtype=np.int64)  # an involution: vertex pairs (2k, 2k + 1)
    mirror[2 * half], mirror[2 * half + 1] = 2 * half + 1, 2 * half
    return ImageCropDataset(samples, train_cfg, vertex_permutation=mirror, seed=seed)


def items_per_s(dataset: ImageCropDataset, epoch: int) -> float:
    """One pass over the dataset with the augmentation draw of ``epoch``."""
    dataset.set_epoch(epoch)
    start = time.perf_counter()
    for i in range(len(dataset)):
        dataset[i]
    return len(dataset) / (time.perf_counter() - start)


def _use(warp, normalize) -> None:
    """Point the dataset's augmentation module at one warp and one normalisation."""
    augment.warp_affine, augment.normalize_image = warp, normalize


def _summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.1f} (range {min(values):.1f}-{max(values):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=128, help="items per timed pass")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    dataset = paper_dataset(args.items)
    versions = {
        "now": (augment.warp_affine, augment.normalize_image),
        "before": (reference_warp_affine, augment._normalize_float),
    }
    rates: dict[str, list[float]] = {name: [] for name in versions}
    try:
        for name in versions:  # a warm-up pass each (imports, first decodes)
            _use(*versions[name])
            items_per_s(dataset, epoch=0)
        for repeat in range(args.repeats):
            for name in versions:
                _use(*versions[name])
                rates[name].append(items_per_s(dataset, epoch=repeat + 1))
    finally:
        _use(*versions["now"])
    ratios = [a / b for a, b in zip(rates["now"], rates["before"], strict=True)]
    print(f"loader items/s per core, paper augmentation, {args.items} items x {args.repeats} repeats:")
    print(f"  now (opencv warp):     {_summary(rates['now'])}  (target >= {TARGET_PER_CORE:.0f})")
    print(f"  before (numpy warp):   {_summary(rates['before'])}")
    print(f"  ratio now/before:      median {statistics.median(ratios):.2f}x (range {min(ratios):.2f}-"
          f"{max(ratios):.2f}x, paired per repeat)")  # fmt: skip
    for name in versions:
        feed = [FEED_WORKERS * r for r in rates[name]]
        print(f"  {FEED_WORKERS}-worker feed rate ({name}): {_summary(feed)} images/s")


if __name__ == "__main__":
    main()
