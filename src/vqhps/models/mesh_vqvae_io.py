"""The Mesh-VQ-VAE's self-describing checkpoint: its writer (the ``extra`` entry) beside its readers.

A train_mesh_vqvae ``model.pt`` holds the weights, the model config and the pooling hierarchy, so the
tokenizer is rebuilt from the file alone (no params.yaml). Torch and the mesh model only: the Mesh-VQ-VAE
trainer imports this, never the image models (and so never a backbone).
"""

from __future__ import annotations

from pathlib import Path

import torch

from vqhps.io.checkpoint import load_checkpoint
from vqhps.models.mesh_hierarchy import MeshHierarchy
from vqhps.models.mesh_vqvae import MeshVQVAE, MeshVQVAEConfig


def mesh_vqvae_extra(model: MeshVQVAE) -> dict:
    """The ``extra`` entry of a Mesh-VQ-VAE checkpoint: its pooling hierarchy as tensors.

    With it, :func:`load_mesh_vqvae` rebuilds the model from the file alone.
    """
    return {"hierarchy": {k: torch.from_numpy(v) for k, v in model.hierarchy.to_arrays().items()}}


def mesh_vqvae_record(path: str | Path) -> dict:
    """``hierarchy``, ``model_config`` and ``model_state`` of a Mesh-VQ-VAE ``model.pt``: what
    :func:`mesh_vqvae_from_record` rebuilds it from (VQ-HPS checkpoints embed it).

    Raises:
        ValueError: the file holds no hierarchy (it was not written by train_mesh_vqvae).
    """
    ck = load_checkpoint(Path(path))
    if "hierarchy" not in ck.get("extra", {}):
        raise ValueError(f"{path}: no mesh hierarchy stored; it was not written by train_mesh_vqvae")
    return {
        "model_state": ck["model_state"],
        "model_config": ck["model_config"],
        "hierarchy": ck["extra"]["hierarchy"],
    }


def load_mesh_vqvae(path: str | Path, device: str | torch.device = "cpu") -> MeshVQVAE:
    """The trained Mesh-VQ-VAE of ``model.pt``, in eval mode (its codebook frozen).

    The checkpoint carries the architecture and the pooling hierarchy, so the token count
    (``model.n_tokens``) and codebook size (``model.codebook_size``) are read from it, never
    duplicated in params.
    """
    return mesh_vqvae_from_record(mesh_vqvae_record(path), source=str(path)).to(device)


def mesh_vqvae_from_record(record: dict, source: str) -> MeshVQVAE:
    """The Mesh-VQ-VAE (eval mode) of a :func:`mesh_vqvae_record`; ``source`` names it in errors."""
    arrays = {k: v.numpy() for k, v in record["hierarchy"].items()}
    hierarchy = MeshHierarchy.from_arrays(arrays, source=source)
    model = MeshVQVAE(hierarchy, MeshVQVAEConfig.from_dict(record["model_config"]))
    model.load_state_dict(record["model_state"])
    return model.eval()
