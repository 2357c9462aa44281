"""Self-describing training checkpoints (weights, model config, params, step, optimiser and RNG state)."""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vqhps.io.atomic import atomic_path

FORMAT_VERSION = 1


def capture_rng_state(generators: dict[str, torch.Generator] | None = None) -> dict[str, Any]:
    """RNG states of torch (CPU, and CUDA when present), numpy, python ``random`` and the given generators.

    Everything is stored as tensors or primitive containers so that ``torch.load(weights_only=True)`` works.
    """
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "name": str(np_state[0]),
            "keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": _python_state_to_tensor(random.getstate()),
        "generators": {k: g.get_state() for k, g in (generators or {}).items()},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any], generators: dict[str, torch.Generator] | None = None) -> None:
    """Inverse of :func:`capture_rng_state`; ``generators`` are restored in place by name."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(
        (n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    random.setstate(_python_state_from_tensor(state["python"]))
    for name, gen in (generators or {}).items():
        if name not in state["generators"]:
            raise KeyError(
                f"checkpoint has no RNG state for generator {name!r}; has {sorted(state['generators'])}"
            )
        gen.set_state(state["generators"][name])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _python_state_to_tensor(st: tuple) -> dict[str, Any]:
    version, internal, gauss = st
    return {"version": int(version), "internal": torch.tensor(internal, dtype=torch.int64), "gauss": gauss}


def _python_state_from_tensor(d: dict[str, Any]) -> tuple:
    return (d["version"], tuple(int(v) for v in d["internal"].tolist()), d["gauss"])


def save_checkpoint(
    path: Path,
    model_state: dict[str, torch.Tensor],
    model_config: dict,
    params: dict,
    step: int,
    optimizer_state: dict | None = None,
    rng_state: dict | None = None,
    extra: dict | None = None,
) -> None:
    """Write a checkpoint atomically (a killed writer leaves the previous file intact).

    Args:
        path: target file (``.pt``).
        model_state: ``model.state_dict()``.
        model_config: plain dict rebuilding the architecture (e.g. ``MeshVQVAEConfig.to_dict()``).
        params: the run's parameters (plain dict).
        step: optimiser steps done.
        optimizer_state: ``optimizer.state_dict()``.
        rng_state: :func:`capture_rng_state` output.
        extra: anything else made of tensors / primitive containers (e.g. the mesh hierarchy arrays).
    """
    payload = _canonical(
        {
            "format_version": FORMAT_VERSION,
            "model_state": {k: v.detach().cpu() for k, v in model_state.items()},
            "model_config": model_config,
            "params": params,
            "step": int(step),
            "optimizer_state": optimizer_state,
            "rng_state": rng_state,
            "extra": extra or {},
        }
    )
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        # Saved through a file object: given a path, torch names the zip records after the file's stem,
        # here the random temporary name, and two identical runs would write different bytes.
        torch.save(payload, fh)


def _canonical(obj: Any) -> Any:
    """The same tree with every string interned.

    pickle writes a string once per distinct object: a resumed run's keys (unpickled, distinct objects) and
    an uninterrupted run's (shared literals) would give the same checkpoint in different bytes.
    """
    if isinstance(obj, str):
        return sys.intern(obj)
    if isinstance(obj, dict):
        return {_canonical(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_canonical(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_canonical(v) for v in obj)
    return obj


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint of :func:`save_checkpoint` (``weights_only=True``: no arbitrary code runs)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    payload = torch.load(path, map_location=map_location, weights_only=True)
    version = payload.get("format_version") if isinstance(payload, dict) else None
    if version != FORMAT_VERSION:
        raise ValueError(f"{path}: checkpoint format {version!r}, expected {FORMAT_VERSION}; re-run training")
    return payload
