"""Reading pretrained backbone checkpoints and strict, readable state-dict loading."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn


def load_state_dict_file(path: str | Path) -> dict[str, Tensor]:
    """Read a checkpoint (``weights_only=True``); unwrap ``{"state_dict": ...}`` and ``module.`` prefixes."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"pretrained backbone weights not found: {path} (give the path of the .pth file)"
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict (name -> tensor), got {type(state).__name__}")
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_strict(module: nn.Module, state: dict[str, Tensor], source: str | Path) -> None:
    """``module.load_state_dict(state, strict=True)`` with a readable error listing every mismatch."""
    own = module.state_dict()
    # BatchNorm fills a missing ``num_batches_tracked`` itself (checkpoints saved before PyTorch 0.4.1).
    missing = sorted(k for k in set(own) - set(state) if not k.endswith("num_batches_tracked"))
    unexpected = sorted(set(state) - set(own))
    shapes = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in sorted(set(own) & set(state))
        if own[k].shape != state[k].shape
    ]
    if missing or unexpected or shapes:
        raise ValueError(
            f"{source}: state dict does not match {type(module).__name__} "
            f"(missing {missing[:8]}{'...' if len(missing) > 8 else ''} [{len(missing)}], "
            f"unexpected {unexpected[:8]}{'...' if len(unexpected) > 8 else ''} [{len(unexpected)}], "
            f"shape mismatches {shapes[:8]}); is this the right architecture's checkpoint?"
        )
    module.load_state_dict(state, strict=True)
