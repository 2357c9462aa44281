"""tokenize_meshes' reconstruction error on a seeded sample of meshes instead of on every mesh.

Decoding every mesh to report ``pve_mm`` halved the stage's speed (the decoder costs about what the
encoder does); a few thousand meshes give the mean to a fraction of a millimetre. The tokens are encoded
exactly as before; only the error is measured, by decoding the written tokens of the sampled meshes.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from vqhps.models.mesh_vqvae import MeshVQVAE
from vqhps.training.mesh_vqvae_trainer import per_vertex_error
from vqhps.training.precision import autocast


def sample_rows(n: int, size: int | None, seed: int) -> np.ndarray:
    """Sorted indices (int64) of a seeded sample of ``min(size, n)`` of ``n`` rows; ``size=None``: all rows.

    The same (n, size, seed) always gives the same rows.
    """
    if size is None or size >= n:
        return np.arange(n, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False)).astype(np.int64)


@torch.no_grad()
def decoded_pve_mm(
    model: MeshVQVAE,
    vertices: Tensor,
    tokens: np.ndarray,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    precision: str = "auto",
) -> np.ndarray:
    """Mean per-vertex error (mm) of decoding ``tokens`` against the meshes they were encoded from.

    Args:
        model: the model that encoded the tokens (eval mode is set here and restored).
        vertices: (N, V, 3) float32 centred meshes, metres.
        tokens: (N, T) integer token ids of those meshes.
        batch_size: meshes per decoder pass.
        device: where to compute.
        precision: of the decoder pass (:func:`vqhps.training.precision.autocast`).

    Returns:
        (N,) float32, millimetres (the same quantity as ``tokenize(..., errors=True)``).
    """
    device = torch.device(device)
    was_training = model.training
    model.eval().to(device)
    ids = torch.from_numpy(np.asarray(tokens, dtype=np.int64))
    errors = []
    try:
        for start in range(0, len(ids), batch_size):
            target = vertices[start : start + batch_size].to(device, torch.float32)
            with autocast(device, precision):
                recon = model.decode_indices(ids[start : start + batch_size].to(device)).float()
            errors.append((per_vertex_error(recon, target) * 1000.0).cpu().numpy())
    finally:
        model.train(was_training)
    return np.concatenate(errors).astype(np.float32) if errors else np.zeros(0, np.float32)


def sampled_pve_mm(
    model: MeshVQVAE,
    vertices: Tensor,
    tokens: np.ndarray,
    rows: np.ndarray,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    precision: str = "auto",
) -> np.ndarray:
    """(N,) float32 pve_mm of the meshes at ``rows`` (indices into the N meshes), NaN for the others."""
    out = np.full(len(vertices), np.nan, dtype=np.float32)
    if len(rows):
        index = torch.from_numpy(np.asarray(rows, dtype=np.int64))
        out[rows] = decoded_pve_mm(model, vertices[index], tokens[rows], batch_size, device, precision)
    return out
