"""Rebuild trained models from their self-describing checkpoints (no params.yaml needed)."""

from __future__ import annotations

from pathlib import Path

import torch

from vqhps.checkpoint import load_checkpoint
from vqhps.models.mesh_hierarchy import MeshHierarchy
from vqhps.models.mesh_vqvae import MeshVQVAE, MeshVQVAEConfig


def load_mesh_vqvae(path: str | Path, device: str | torch.device = "cpu") -> MeshVQVAE:
    """The trained Mesh-VQ-VAE of ``model.pt``, in eval mode (its codebook frozen).

    The checkpoint carries the architecture and the pooling hierarchy, so the token count
    (``model.n_tokens``) and codebook size (``model.codebook_size``) are read from it, never
    duplicated in params.
    """
    ck = load_checkpoint(Path(path))
    arrays = {k: v.numpy() for k, v in ck["extra"]["hierarchy"].items()}
    model = MeshVQVAE(MeshHierarchy.from_arrays(arrays, source=str(path)), MeshVQVAEConfig.from_dict(ck["model_config"]))
    model.load_state_dict(ck["model_state"])
    return model.to(device).eval()
