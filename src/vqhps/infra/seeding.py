"""Deterministic per-stage seeds derived from the experiment's master seed."""

from __future__ import annotations

import hashlib


def stage_seed(seed: int, *names: object) -> int:
    """A 63-bit seed for ``names`` (a stage, a split, a sample index) under master ``seed``.

    Hash-based, so adding a stage or changing another stage's parameters never shifts this stream.
    """
    key = ":".join([str(seed), *map(str, names)]).encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "little") & (2**63 - 1)


def seed_everything(seed: int) -> None:
    """Seed torch's, numpy's and python's global generators from ``seed``.

    Training uses torch's and its own generators; numpy's and python's global states are seeded too
    because checkpoints store them (for resumes), and an unseeded state would make two identical runs
    write different bytes.
    """
    import random

    import numpy as np
    import torch

    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)
