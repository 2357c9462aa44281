"""Tiny synthetic image-training data made in code: icosphere 'bodies', a tiny Mesh-VQ-VAE, crop samples."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from helpers.meshes import icosphere
from vqhps.data.augment import vertex_mirror_permutation
from vqhps.data.crop_config import PAPER_AUGMENT, CropConfig
from vqhps.data.image_dataset import ImageCropDataset
from vqhps.geometry import random_rotations
from vqhps.io.schemas import IMAGES, MESHES
from vqhps.io.shards import MeshTopology, ShardWriter, write_template
from vqhps.models.mesh_hierarchy import HierarchySettings, build_hierarchy
from vqhps.models.mesh_vqvae import MeshVQVAE, MeshVQVAEConfig

LEVELS = ((1, 1, 1), (2, 2, 2), (1, 1, 1))
N_VERTS = 42


def topology() -> MeshTopology:
    """Icosphere (42 vertices, x-symmetric) with a fixed convex (17, 42) joint regressor."""
    verts, faces = icosphere(1)
    reg = np.random.default_rng(5).random((17, N_VERTS)).astype(np.float32)
    reg /= reg.sum(1, keepdims=True)
    return MeshTopology((verts * 0.5).astype(np.float32), faces, "icosphere1", reg)


def tiny_vqvae() -> MeshVQVAE:
    topo = topology()
    torch.manual_seed(1)
    return MeshVQVAE(
        build_hierarchy(topo.faces, N_VERTS, HierarchySettings(LEVELS)),
        MeshVQVAEConfig(channels=(8, 4), codebook_size=16),
    ).eval()


def meshes(n: int, seed: int) -> np.ndarray:
    """(n, 42, 3) float32 centred, randomly stretched spheres (metres)."""
    rng = np.random.default_rng(seed)
    base = topology().vertices[None]
    out = base * rng.uniform(0.8, 1.2, (n, 1, 3)) + 0.01 * rng.normal(size=(n, N_VERTS, 3))
    return (out - out.mean(1, keepdims=True)).astype(np.float32)


def samples(n: int, seed: int) -> list[dict]:
    """Crop-dataset samples: 48 px random images whose brightness encodes the mesh stretch (learnable)."""
    rng = np.random.default_rng(seed)
    verts = meshes(n, seed)
    rots = random_rotations(n, generator=torch.Generator().manual_seed(seed)).numpy()
    out = []
    for i in range(n):
        image = rng.integers(0, 60, (48, 48, 3), dtype=np.uint8)
        image[12:36, 12:36] += (100 * verts[i].max(0) / verts[i].max()).astype(np.uint8)
        kp = np.concatenate([rng.uniform(10, 38, (17, 2)), np.ones((17, 1))], 1).astype(np.float32)
        out.append(
            {
                "image": image,
                "bbox": np.array([8.0, 8.0, 40.0, 40.0], np.float32),
                "keypoints2d": kp,
                "global_rot": rots[i],
                "mesh_id": i,
                "canonical_verts": verts[i],
            }
        )
    return out


def datasets(
    n_train: int = 12, n_val: int = 4, flip: float = 0.5
) -> tuple[ImageCropDataset, ImageCropDataset]:
    perm = vertex_mirror_permutation(topology().vertices)
    train = ImageCropDataset(
        samples(n_train, 0),
        CropConfig(size=32, augment=replace(PAPER_AUGMENT, flip_prob=flip, photometric_prob=0.3)),
        perm,
        seed=3,
    )
    val = ImageCropDataset(samples(n_val, 1), CropConfig(size=32), seed=3)
    return train, val


def write_image_set(root: Path, n_per_source: dict[str, int], n_val: int = 2) -> tuple[Path, Path]:
    """Image + mesh shard sets like render_images' (train from several sources, val from the first)."""
    import io

    from PIL import Image

    images, mesh_dir = root / "images", root / "meshes"
    img_w = ShardWriter(images, IMAGES, 17, shard_size=5, row_group_size=5)
    mesh_w = ShardWriter(mesh_dir, MESHES, N_VERTS, shard_size=5, row_group_size=5)
    rows = [(src, "train") for src, k in n_per_source.items() for _ in range(k)]
    rows += [(next(iter(n_per_source)), "val")] * n_val
    verts = meshes(len(rows), 7)
    for i, (src, split) in enumerate(rows):
        buf = io.BytesIO()
        Image.fromarray(np.full((40, 40, 3), i, np.uint8)).save(buf, format="PNG")
        mesh_w.add(
            {
                "id": [f"m{i}"],
                "source": [src],
                "split": [split],
                "vertices": verts[i : i + 1].reshape(1, -1),
                "pose": [np.zeros(3)],
                "shape": [np.zeros(2)],
                "gender": ["neutral"],
            }
        )
        nan3 = np.full((1, 9), np.nan, np.float32)
        img_w.add(
            {
                "id": [f"img{i}"],
                "mesh_id": [f"m{i}"],
                "source": [src],
                "split": [split],
                "image": [buf.getvalue()],
                "height": [40],
                "width": [40],
                "keypoints2d": np.full((1, 51), float(i), np.float32),
                "bbox": np.array([[5, 5, 35, 35]], np.float32),
                "global_rot": np.eye(3, dtype=np.float32)[None].reshape(1, 9),
                "cam_K": nan3,
                "cam_R": nan3,
                "cam_t": np.full((1, 3), np.nan, np.float32),
            }
        )
    img_w.close()
    mesh_w.close()
    write_template(mesh_dir, topology())
    return images, mesh_dir
