"""Deterministic per-stage seeds derived from the experiment's master seed."""

from __future__ import annotations

import hashlib


def stage_seed(seed: int, *names: object) -> int:
    """A 63-bit seed for ``names`` (a stage, a split, a sample index) under master ``seed``.

    Hash-based, so adding a stage or changing another stage's parameters never shifts this stream.
    """
    key = ":".join([str(seed), *map(str, names)]).encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "little") & (2**63 - 1)
