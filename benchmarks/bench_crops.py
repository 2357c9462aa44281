"""Crop throughput of prepare_images on a 1920 x 1080 JPEG: DCT-domain draft decoding vs a full decode."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from vqhps.ingest.crops import crop_and_encode, crop_image, encode_jpeg


def _full(path: Path, box: np.ndarray, crop: int) -> bytes:
    with Image.open(path) as img:
        return encode_jpeg(crop_image(img.convert("RGB"), box, crop), 95)


def _ms(fn, repeats: int = 30) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats * 1000


def main() -> None:
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "frame.jpg"
        ys, xs = np.mgrid[:1080, :1920]
        base = np.stack([xs % 256, ys % 256, (xs + ys) % 256], -1) + rng.integers(0, 20, (1080, 1920, 3))
        Image.fromarray(base.clip(0, 255).astype(np.uint8)).save(path, quality=95)
        print("box side px | full decode ms | draft decode ms | speed-up (224 px crop)")
        for side in (300.0, 600.0, 1000.0):
            box = np.array([400.0, 100.0, side])
            full = _ms(lambda box=box: _full(path, box, 224))
            draft = _ms(lambda box=box: crop_and_encode((path, box, 224, 95)))
            print(f"{side:11.0f} | {full:13.1f} | {draft:15.1f} | {full / draft:.2f}x")


if __name__ == "__main__":
    main()
