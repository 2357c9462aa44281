"""Checkpoints: atomic, weights-only loadable, RNG states restored exactly."""

from __future__ import annotations

import pickle
import random

import numpy as np
import pytest
import torch

from vqhps.io.checkpoint import capture_rng_state, load_checkpoint, restore_rng_state, save_checkpoint


def _draw(gen):
    return torch.rand(3), np.random.rand(3), random.random(), torch.rand(3, generator=gen)


def test_rng_state_round_trip(tmp_path):
    gen = torch.Generator().manual_seed(5)
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    state = capture_rng_state({"sampler": gen})
    first = _draw(gen)
    save_checkpoint(
        tmp_path / "c.pt", {"w": torch.ones(2)}, {"channels": [1, 2]}, {"lr": 0.1}, 7, None, state
    )
    _draw(gen)  # move every RNG on
    ck = load_checkpoint(tmp_path / "c.pt")
    restore_rng_state(ck["rng_state"], {"sampler": gen})
    second = _draw(gen)
    for a, b in zip(first, second, strict=True):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    assert ck["step"] == 7 and ck["model_config"] == {"channels": [1, 2]} and ck["params"] == {"lr": 0.1}
    with pytest.raises(KeyError, match="other"):
        restore_rng_state(ck["rng_state"], {"other": torch.Generator()})


def test_save_is_atomic_and_load_checks(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"w": torch.zeros(1)}, {}, {}, 1)
    with pytest.raises((pickle.PicklingError, AttributeError)):  # a lambda cannot be pickled
        save_checkpoint(path, {"w": torch.zeros(1)}, {}, {}, 2, extra={"bad": lambda: 0})
    assert load_checkpoint(path)["step"] == 1  # the failed write left the old file intact
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")
    torch.save({"format_version": 99}, tmp_path / "old.pt")
    with pytest.raises(ValueError, match="format"):
        load_checkpoint(tmp_path / "old.pt")


def test_same_checkpoint_gives_the_same_bytes_whatever_the_file_is_called(tmp_path):
    """Two runs writing the same weights must write the same file (the determinism promise)."""
    state = {"w": torch.arange(6.0).reshape(2, 3)}
    for name in ("a/model.pt", "b/last.pt"):
        save_checkpoint(tmp_path / name, state, {"k": 1}, {"seed": 0}, 3)
    assert (tmp_path / "a/model.pt").read_bytes() == (tmp_path / "b/last.pt").read_bytes()


def test_bytes_do_not_depend_on_which_string_objects_hold_the_keys(tmp_path):
    """A resumed run's keys come from unpickling (distinct objects); an uninterrupted run's are shared."""
    state = {"w": torch.zeros(2)}
    shared = {"step": 3}  # the literal "step", as the top-level key
    unpickled = pickle.loads(pickle.dumps({"".join(["st", "ep"]): 3}))
    save_checkpoint(tmp_path / "a.pt", state, {}, {}, 3, optimizer_state={"state": shared})
    save_checkpoint(tmp_path / "b.pt", state, {}, {}, 3, optimizer_state={"state": unpickled})
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()
