"""The original checkpoint test data (shared/reference/original_ckpt) and release files made from it."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch


def shared_reference(name: str) -> Path:
    """``shared/reference/<name>`` beside some parent of this file (the developers' and CI's copy).

    Skips the calling test when it is absent: those files are not part of the repository.
    """
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "reference" / name
        if candidate.is_dir():
            return candidate
    pytest.skip(f"shared/reference/{name} not found beside the repository (test data, not shipped)")


def manifest_keys(original_ckpt: Path, checkpoint: str) -> list[tuple[str, list[int], str]]:
    """[(key, shape, dtype)] of a checkpoint listed in ``manifest.json`` ("mesh_vqvae_54", "vqhps_hrnet")."""
    checkpoints = json.loads((original_ckpt / "manifest.json").read_text())["checkpoints"]
    entry = checkpoints.get(checkpoint) or checkpoints["vqhps"][checkpoint]
    return [tuple(row) for row in entry["model"]]


def random_release_state(keys: list[tuple[str, list[int], str]], seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict with exactly these keys, shapes and dtypes, cheap to build and to save.

    Every tensor is a view at a key-dependent offset of one of two shared random buffers (so the saved
    file stays ~30 MB instead of 570 MB, and different keys hold different values): N(0, 0.02) for weights,
    U(0.75, 1.25) for BatchNorm scales and variances (a random-weight HRNet then stays finite). The causal
    masks are lower-triangular ones, as the original registers them.
    """
    g = torch.Generator().manual_seed(seed)
    n_buf = 1 << 22
    normal = torch.randn(n_buf, generator=g) * 0.02
    positive = torch.rand(n_buf, generator=g) * 0.5 + 0.75
    bn = {k.removesuffix(".running_var") for k, _, _ in keys if k.endswith(".running_var")}
    state = {}
    for key, shape, dtype in keys:
        n = int(np.prod(shape)) if shape else 1
        offset = zlib.crc32(key.encode()) % (n_buf - n)
        if dtype == "int64":
            state[key] = torch.full(shape, 7, dtype=torch.int64)
        elif key.endswith("attn.mask"):
            state[key] = torch.tril(torch.ones(shape[-2], shape[-1])).view(shape)
        elif key.endswith(".running_var") or (key.endswith(".weight") and key[:-7] in bn):
            state[key] = positive[offset : offset + n].view(shape)
        else:
            state[key] = normal[offset : offset + n].view(shape)
    return state


def save_release(path: Path, state: dict[str, torch.Tensor], ddp: bool = False) -> Path:
    """Write ``state`` as the original's save code does (``module.`` keys and ``rotcam_feat`` under DDP)."""
    model = dict(state)
    if ddp:
        model = {f"module.{k}": v for k, v in model.items()}
        model["module.rotcam_feat.weight"] = torch.zeros(16, 16)
        model["module.rotcam_feat.bias"] = torch.zeros(16)
    payload = {"model": model, "optimizer": {"state": {}, "param_groups": []}, "epoch": 7, "loss": 1.5}
    torch.save(payload, path)
    return path
