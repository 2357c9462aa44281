"""Random-weight files in the original VQ-HPS release format, built from this project's own models.

The fixture data root needs ``released/{mesh_vqvae_54, vqhps_hrnet, tpose.npy}`` that
``python -m vqhps.models.released`` accepts, so the "VQ-HPS (released weights)" path runs end to end without
the real release. The key names are this project's state dicts mapped back to the original's names
(``vqhps.models.original_keys``), the shapes those of the models built on the fixture's connection files:
nothing is read from the real release. Weights are random: the rows they give mean nothing but the path.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import torch

from vqhps.models import original_keys as ok
from vqhps.models.connections import MEDIUM_N_LEVELS, load_connections
from vqhps.models.mesh_vqvae import MeshVQVAE, MeshVQVAEConfig

__all__ = ["write_release_files", "mesh_vqvae_release_state", "vqhps_release_state"]

_BUFFER = 1 << 22  # floats per shared random buffer (16 MB): every tensor is a view into one of two
_FINAL_LAYER_WEIGHT = (17, 48, 1, 1)  # HRNet-W48's COCO keypoint head (1x1 conv, 48 -> 17 heatmaps)


def mesh_vqvae_release_state(connections: Path, seed: int = 0) -> dict[str, torch.Tensor]:
    """The ``model`` dict of a ``mesh_vqvae_54`` for the hierarchy of ``connections`` (medium, 7 levels).

    Both copies of each autoencoder layer are present, as the original saves them (the unused copy holds
    the same tensor).
    """
    torch.manual_seed(seed)
    model = MeshVQVAE(load_connections(connections, 6890, MEDIUM_N_LEVELS), MeshVQVAEConfig())
    ours = model.state_dict()
    state = {original: ours[name].detach().clone() for original, name in ok.mesh_vqvae_key_map().items()}
    for other, used in ok.mesh_vqvae_twins().items():
        state[other] = state[used]
    return state


def vqhps_release_state(
    n_tokens: int = 54, codebook_size: int = 512, seed: int = 0
) -> dict[str, torch.Tensor]:
    """The ``model`` dict of a ``vqhps_hrnet``: every key the converter expects, random values.

    Each tensor is a view at a key-dependent offset into one of two seeded buffers, so the saved file is
    ~32 MB instead of ~500 MB: N(0, 0.02) for weights, U(0.75, 1.25) for BatchNorm scales and running
    variances (a random HRNet-W48 then stays finite); counters are integers; the head's attention masks
    are the causal lower-triangular ones the converter checks.
    """
    from vqhps.models.released import expected_vqhps_keys, released_vqhps_config
    from vqhps.models.vqhps import VQHPS

    config = released_vqhps_config(n_tokens, codebook_size)
    names, shapes = expected_vqhps_keys(config)
    with torch.device("meta"):  # shapes and dtypes only: no memory, no initialisation
        own = VQHPS(config, torch.zeros(17, 3)).state_dict()
    g = torch.Generator().manual_seed(seed)
    normal = torch.randn(_BUFFER, generator=g) * 0.02
    positive = torch.rand(_BUFFER, generator=g) * 0.5 + 0.75
    norms = {k.removesuffix(".running_var") for k in names if k.endswith(".running_var")}
    state = {}
    for original in shapes:
        if original in names:
            shape, dtype = tuple(own[names[original]].shape), own[names[original]].dtype
        elif original.endswith(".final_layer.weight"):  # HRNet's keypoint head: in the file, never used
            shape, dtype = _FINAL_LAYER_WEIGHT, torch.float32
        elif original.endswith(".final_layer.bias"):
            shape, dtype = _FINAL_LAYER_WEIGHT[:1], torch.float32
        else:  # the causal masks: buffers the project's model does not store
            shape, dtype = shapes[original], torch.float32
        n = int(np.prod(shape)) if shape else 1
        offset = zlib.crc32(original.encode()) % (_BUFFER - n)
        if original.endswith("attn.mask"):
            state[original] = torch.tril(torch.ones(shape[-2], shape[-1])).view(shape)
        elif dtype == torch.int64:
            state[original] = torch.zeros(shape, dtype=torch.int64)
        elif original.endswith(".running_var") or original.removesuffix(".weight") in norms:
            state[original] = positive[offset : offset + n].view(shape)
        else:
            state[original] = normal[offset : offset + n].view(shape)
    return state


def write_release_files(folder: Path, connections: Path, seed: int = 0) -> dict[str, Path]:
    """``folder/{mesh_vqvae_54, vqhps_hrnet, tpose.npy}`` as the original release stores them.

    Args:
        folder: where to write (the data root's ``released/``).
        connections: the MeshConvolution-format connection files the tokenizer is built on.

    Returns:
        name -> path of the three files.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / name for name in ("mesh_vqvae_54", "vqhps_hrnet", "tpose.npy")}
    mesh = mesh_vqvae_release_state(connections, seed)
    codebook = mesh["vq_vae._embedding.weight"].shape[0]
    for name, state in (("mesh_vqvae_54", mesh), ("vqhps_hrnet", vqhps_release_state(54, codebook, seed))):
        payload = {"model": state, "optimizer": {"state": {}, "param_groups": []}, "epoch": 0, "loss": 0.0}
        torch.save(payload, paths[name])
    rng = np.random.default_rng(seed)
    np.save(paths["tpose.npy"], rng.normal(0, 0.3, (1, 6890, 3)))  # float64, as the release stores it
    return paths
