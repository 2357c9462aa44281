"""Demo-like training images made in code: body-like meshes ray-cast by the project's own renderer.

The "bodies" are icospheres shaped into an upright figure (tall, flat, with a nose on the +Z front and
a bump on top) so that their global rotation shows in the image, with per-mesh random stretches and a
random forward lean that the Mesh-VQ-VAE tokens encode. Each image is ``render_sample``: uniform yaw
over the full circle, random pitch/roll, camera, background, albedo and light, as in ``render_images``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from helpers.meshes import icosphere
from vqhps.data.augment import H36M17_FLIP_PERMUTATION, vertex_mirror_permutation
from vqhps.io.shards import MeshTopology
from vqhps.models.mesh_hierarchy import HierarchySettings, build_hierarchy
from vqhps.models.mesh_vqvae import MeshVQVAE, MeshVQVAEConfig
from vqhps.render.synthetic import render_sample, sample_rng
from vqhps.training.mesh_vqvae_trainer import TrainSettings, train_mesh_vqvae

LEVELS = ((1, 1, 1), (2, 2, 2), (1, 1, 1))


def _figure(unit: np.ndarray) -> np.ndarray:
    """Unit-sphere points (V, 3) -> an upright figure about 1.6 m tall, facing +Z (metres)."""
    x, y, z = unit.T
    nose = 0.12 * np.exp(-((x / 0.3) ** 2 + ((y - 0.55) / 0.25) ** 2)) * (z > 0)
    top = 0.15 * np.exp(-((x / 0.35) ** 2 + (z / 0.35) ** 2)) * (y > 0)
    return np.stack([0.28 * x, 0.8 * y + top, 0.14 * z + nose], axis=1)


def topology() -> MeshTopology:
    """Figure template (162 vertices, x-symmetric) with a fixed convex (17, 162) joint regressor whose
    left/right H36M rows are mirror images (so flipped keypoints are the mirrored body's joints)."""
    unit, faces = icosphere(2)
    verts = _figure(unit).astype(np.float32)
    partner = vertex_mirror_permutation(verts)
    reg = np.random.default_rng(5).random((17, len(verts))) ** 8  # peaked rows: distinct joints
    reg = (reg + reg[:, partner][H36M17_FLIP_PERMUTATION]) / 2
    reg /= reg.sum(1, keepdims=True)
    return MeshTopology(verts, faces, "figure162", reg.astype(np.float32))


def meshes(n: int, seed: int) -> np.ndarray:
    """(n, 162, 3) float32 centred figures: per-axis stretch 0.8-1.2 and a forward lean (metres)."""
    rng = np.random.default_rng(seed)
    base = topology().vertices.astype(np.float64)
    stretch = rng.uniform(0.8, 1.2, (n, 1, 3))
    lean = rng.uniform(-0.4, 0.4, (n, 1))
    out = base[None] * stretch
    out[..., 2] += lean * out[..., 1] ** 2
    return (out - out.mean(1, keepdims=True)).astype(np.float32)


def rendered_samples(verts: np.ndarray, image_size: int = 64, seed: int = 0) -> list[dict]:
    """``ImageCropDataset`` samples of ``verts`` (N, V, 3), one ``render_sample`` each (images uint8)."""
    topo = topology()
    faces = np.ascontiguousarray(topo.faces)
    out = []
    for i, v in enumerate(verts):
        s = render_sample(v, faces, topo.joint_regressor, sample_rng(seed, i), image_size)
        out.append(
            {
                "image": s.image,
                "bbox": s.bbox,
                "keypoints2d": s.keypoints2d,
                "global_rot": s.global_rot_cam,
                "mesh_id": i,
                "canonical_verts": v,
            }
        )
    return out


@dataclass
class TrainedTokenizer:
    """A Mesh-VQ-VAE trained on the figure family, and what its training reached."""

    model: MeshVQVAE
    val_pve_mm: float


def trained_vqvae(train_meshes: np.ndarray, steps: int, ckpt: Path) -> TrainedTokenizer:
    """A small Mesh-VQ-VAE (one pool, 64 codes of size 9) trained ``steps`` Adam steps on the meshes."""
    topo = topology()
    torch.manual_seed(1)
    model = MeshVQVAE(
        build_hierarchy(topo.faces, len(topo.vertices), HierarchySettings(LEVELS)),
        MeshVQVAEConfig(channels=(16, 9), codebook_size=64, dead_code_restart=True, data_init=True),
    )
    verts = torch.from_numpy(train_meshes)
    settings = TrainSettings(
        steps=steps, batch_size=16, lr=2e-3, val_every=steps, ckpt_every=steps, lr_schedule="cosine"
    )
    metrics = train_mesh_vqvae(model, verts, verts, settings, ckpt)
    return TrainedTokenizer(model.eval(), metrics["val_pve_mm"])
