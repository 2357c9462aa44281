"""Photometric train-time augmentation (a PIL/numpy subset of the BEDLAM/VQ-HPS albumentations recipe)."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageFilter, ImageOps

Op = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _downscale(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = image.shape[:2]
    factor = rng.uniform(0.25, 0.5)
    small = Image.fromarray(image).resize((max(1, int(w * factor)), max(1, int(h * factor))), Image.NEAREST)
    return np.asarray(small.resize((w, h), Image.NEAREST))


def _jpeg(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=int(rng.integers(20, 80)))
    return np.asarray(Image.open(buffer).convert("RGB"))


def _blur(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.asarray(Image.fromarray(image).filter(ImageFilter.BoxBlur(int(rng.integers(1, 4)))))


def _motion_blur(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    k = int(rng.integers(3, 8))
    horizontal = rng.random() < 0.5
    out = np.zeros(image.shape, dtype=np.float32)
    for shift in range(k):  # average of k shifted copies along one axis (edge-replicated)
        idx = np.clip(np.arange(image.shape[1 if horizontal else 0]) + shift - k // 2, 0, None)
        idx = np.minimum(idx, image.shape[1 if horizontal else 0] - 1)
        out += image[:, idx] if horizontal else image[idx]
    return np.clip(np.rint(out / k), 0, 255).astype(np.uint8)


def _gray(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.asarray(ImageOps.grayscale(Image.fromarray(image)).convert("RGB"))


def _brightness_contrast(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    alpha, beta = 1 + rng.uniform(-0.2, 0.2), 255 * rng.uniform(-0.2, 0.2)
    return np.clip(image.astype(np.float32) * alpha + beta, 0, 255).astype(np.uint8)


def _multiplicative_noise(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    noise = rng.uniform(0.9, 1.1, image.shape).astype(np.float32)
    return np.clip(image * noise, 0, 255).astype(np.uint8)


def _posterize(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.asarray(ImageOps.posterize(Image.fromarray(image), int(rng.integers(4, 8))))


def _gamma(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    gamma = rng.uniform(0.8, 1.2)
    return np.clip(255 * (image / 255.0) ** gamma, 0, 255).astype(np.uint8)


def _equalize(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.asarray(ImageOps.equalize(Image.fromarray(image)))


# Group 1 = degradations (original: Downscale, ImageCompression, RandomRain, MotionBlur, Blur, RandomSnow);
# group 2 = colour (original: CLAHE, ToGray, RandomBrightnessContrast, MultiplicativeNoise,
# HueSaturationValue, Posterize, RandomGamma, Equalize). Rain, snow, CLAHE and HSV shifts are left out.
DEGRADATIONS: tuple[Op, ...] = (_downscale, _jpeg, _motion_blur, _blur)
COLOUR: tuple[Op, ...] = (_gray, _brightness_contrast, _multiplicative_noise, _posterize, _gamma, _equalize)


def photometric_augment(image: np.ndarray, rng: np.random.Generator, prob: float = 0.3) -> np.ndarray:
    """With probability ``prob`` each, apply one random degradation and one random colour op.

    Args:
        image: (H, W, 3) uint8 RGB (the crop). Geometry is unchanged, so keypoints stay valid.
        rng: the per-item generator (deterministic augmentation).

    Returns:
        (H, W, 3) uint8, a new array.
    """
    out = np.ascontiguousarray(image)
    for group in (DEGRADATIONS, COLOUR):
        if rng.random() < prob:
            out = group[int(rng.integers(len(group)))](out, rng)
    return np.array(out, dtype=np.uint8)
