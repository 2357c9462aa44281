"""Torch dataset of cropped, augmented person images with 2D keypoints, global rotation and mesh targets."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from vqhps.data import augment
from vqhps.data.crop_config import CropConfig
from vqhps.data.photometric import photometric_augment


def decode_image(image: np.ndarray | bytes) -> np.ndarray:
    """uint8 (H, W, 3) array, or encoded PNG/JPEG bytes -> (H, W, 3) uint8 RGB."""
    if isinstance(image, bytes | bytearray | memoryview):
        with Image.open(io.BytesIO(bytes(image))) as pil:
            return np.asarray(pil.convert("RGB"))
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8 or encoded bytes, got {array.dtype} {array.shape}")
    return array


class ImageCropDataset(Dataset):
    """Samples -> cropped, optionally augmented training tensors.

    Each sample is a mapping with keys:
      - ``image``: (H, W, 3) uint8 RGB or PNG/JPEG bytes;
      - ``bbox``: (4,) xyxy pixels;
      - ``keypoints2d``: (J, 3) pixels + visibility/confidence;
      - ``global_rot``: (3, 3) canonical -> camera rotation (camera frame x right, y down, z forward);
      - optional ``mesh_id`` (int), ``canonical_verts`` (V, 3) metres, ``tokens`` (T,) int64 and, when
        flipping may happen, ``tokens_mirrored`` (T,) (tokens of ``mirror_vertices(canonical_verts)``).

    Flip policy: a flipped item's ``canonical_verts`` are mirrored (needs ``vertex_permutation``) and its
    ``tokens`` are ``tokens_mirrored``. A sample with ``tokens`` but no ``tokens_mirrored`` raises when
    flipped, because reusing the original tokens for the mirrored body would be a wrong target. A trainer
    that tokenises on the fly can instead drop ``tokens`` and encode the returned ``canonical_verts``.

    Items: ``image`` (3, S, S) float32 ImageNet-normalised, ``keypoints2d`` (J, 3) float32 in [-1, 1],
    ``global_rot`` (3, 3) float32, ``flipped`` bool tensor, ``index`` int64, plus ``mesh_id``,
    ``canonical_verts`` (V, 3) float32 and ``tokens`` (T,) int64 when present.
    """

    def __init__(
        self,
        samples: Sequence[Mapping],
        config: CropConfig,
        vertex_permutation: np.ndarray | None = None,
        seed: int = 0,
    ) -> None:
        self.samples = samples
        self.config = config
        self.vertex_permutation = None if vertex_permutation is None else np.asarray(vertex_permutation)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Change the augmentation draw (deterministic per (seed, epoch, index))."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def _draw(self, index: int) -> tuple[bool, float, float, np.random.Generator | None]:
        """(flip, rot_deg, scale, generator for the photometric ops); identity when not augmenting."""
        aug = self.config.augment
        if aug is None:
            return False, 0.0, 1.0, None
        rng = np.random.default_rng([self.seed, self.epoch, index])
        flip, rot, scale = augment.sample_augmentation(
            rng, aug.flip_prob, aug.rot_prob, aug.rot_std_deg, aug.rot_max_deg, aug.scale_std
        )
        return flip, rot, scale, rng

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.item(index)

    def item(self, index: int, draw: int | None = None) -> dict[str, torch.Tensor]:
        """Sample ``index`` with the augmentation drawn for key ``draw`` (default: ``index``)."""
        sample = self.samples[index]
        cfg = self.config
        flip, rot_deg, scale, rng = self._draw(index if draw is None else draw)
        image = decode_image(sample["image"])
        center, box = augment.bbox_to_box(sample["bbox"], cfg.bbox_rescale)
        affine = augment.crop_affine(center, box * scale, cfg.size, rot_deg)
        crop = augment.warp_affine(image, affine, cfg.size)
        if rng is not None and cfg.augment.photometric_prob > 0:
            crop = photometric_augment(crop, rng, cfg.augment.photometric_prob)
        keypoints = augment.transform_keypoints(sample["keypoints2d"], affine, cfg.size)
        rotation = augment.rotation_about_camera_axis(rot_deg) @ np.asarray(sample["global_rot"], np.float64)
        item: dict[str, torch.Tensor] = {}
        verts = sample.get("canonical_verts")
        tokens = sample.get("tokens")
        if flip:
            crop = augment.flip_image(crop)
            keypoints = augment.flip_keypoints(keypoints, augment.FLIP_PERMUTATIONS[cfg.skeleton])
            rotation = augment.flip_global_rotation(rotation, cfg.lateral_axis)
            verts, tokens = self._mirror_targets(index, sample, verts, tokens)
        item["image"] = torch.from_numpy(augment.normalize_image(crop))
        item["keypoints2d"] = torch.from_numpy(np.asarray(keypoints, dtype=np.float32))
        item["global_rot"] = torch.from_numpy(rotation.astype(np.float32))
        item["flipped"] = torch.tensor(flip)
        item["index"] = torch.tensor(index, dtype=torch.int64)
        if "mesh_id" in sample:
            item["mesh_id"] = torch.tensor(int(sample["mesh_id"]), dtype=torch.int64)
        if verts is not None:
            item["canonical_verts"] = torch.from_numpy(np.asarray(verts, dtype=np.float32))
        if tokens is not None:
            item["tokens"] = torch.from_numpy(np.asarray(tokens, dtype=np.int64))
        return item

    def _mirror_targets(self, index: int, sample: Mapping, verts, tokens) -> tuple:
        """Mesh and token targets of the mirrored body (see the class docstring's flip policy)."""
        if verts is not None:
            verts = augment.mirror_vertices(verts, self._permutation(index), self.config.lateral_axis)
        if tokens is not None:
            if sample.get("tokens_mirrored") is None:
                raise ValueError(
                    f"sample {index} has 'tokens' but no 'tokens_mirrored': flipped images need the tokens"
                    " of the mirrored canonical mesh; provide them, drop 'tokens', or set flip_prob=0"
                )
            tokens = sample["tokens_mirrored"]
        return verts, tokens

    def _permutation(self, index: int) -> np.ndarray:
        if self.vertex_permutation is None:
            raise ValueError(
                f"sample {index} is flipped and has canonical_verts but the dataset has no"
                " vertex_permutation; pass the template's left/right vertex permutation or set flip_prob=0"
            )
        return self.vertex_permutation
