"""Numeric precision of the forward passes: float32 (the original's) or bf16 autocast (a speed option)."""

from __future__ import annotations

import contextlib

import torch

PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "auto")  # auto = bf16 on CUDA, float32 elsewhere


def check_precision(precision: str) -> str:
    """``precision`` itself; raises ValueError naming the allowed values when it is not one of them."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    return precision


def autocast(device: torch.device | str, precision: str = "auto") -> contextlib.AbstractContextManager:
    """Context of a forward pass: bf16 autocast (``bf16``, or ``auto`` on CUDA) or plain float32.

    ``bf16`` works on the CPU too (slower there; it is how the README's bf16 cost was measured). Layers that
    need float32 (the quantiser's distances, the SMPL-H regression) turn autocast off inside.
    """
    device = torch.device(device)
    if check_precision(precision) == "bf16" or (precision == "auto" and device.type == "cuda"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
