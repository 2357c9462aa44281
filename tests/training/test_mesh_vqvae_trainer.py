"""Training core: resume after a kill equals an uninterrupted run, NaN stops, tokenise/evaluate outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers.meshes import icosphere
from vqhps.data.motion_sampler import FileFrameSampler, motion_row_id
from vqhps.io.checkpoint import load_checkpoint
from vqhps.models.mesh_hierarchy import HierarchySettings, MeshHierarchy, build_hierarchy
from vqhps.models.mesh_vqvae import MeshVQVAE, MeshVQVAEConfig
from vqhps.models.pretrained import load_mesh_vqvae
from vqhps.training.mesh_vqvae_trainer import (
    TrainSettings,
    evaluate_reconstruction,
    tokenize,
    train_mesh_vqvae,
)

LEVELS = ((1, 1, 1), (2, 2, 2), (1, 1, 1))
CONFIG = MeshVQVAEConfig(channels=(8, 4), codebook_size=16)


@pytest.fixture(scope="module")
def data():
    verts, faces = icosphere(1)  # 42 vertices
    h = build_hierarchy(faces, 42, HierarchySettings(LEVELS))
    g = torch.Generator().manual_seed(0)
    base = torch.from_numpy(verts).float() * 0.5
    scales = 1.0 + 0.2 * torch.rand(24, 1, 3, generator=g)
    meshes = base * scales + 0.01 * torch.randn(24, 42, 3, generator=g)
    meshes = meshes - meshes.mean(1, keepdim=True)
    return h, meshes[:16], meshes[16:]


def _model(h: MeshHierarchy) -> MeshVQVAE:
    torch.manual_seed(42)
    return MeshVQVAE(h, CONFIG)


class _Killed(Exception):
    pass


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_resume_after_kill_equals_uninterrupted(tmp_path, data, schedule):
    h, train, val = data
    settings = TrainSettings(
        steps=6, batch_size=4, lr=1e-3, val_every=1, ckpt_every=2, seed=3, lr_schedule=schedule
    )
    full = _model(h)
    logged: list[int] = []
    res_full = train_mesh_vqvae(
        full, train, val, settings, tmp_path / "a.pt", log=lambda m, s: logged.append(s)
    )
    assert logged == [1, 2, 3, 4, 5, 6] and res_full["steps"] == 6

    def kill_at_5(metrics, step):
        if step == 5:
            raise _Killed

    with pytest.raises(_Killed):
        train_mesh_vqvae(_model(h), train, val, settings, tmp_path / "b.pt", log=kill_at_5)
    assert load_checkpoint(tmp_path / "b.pt")["step"] == 4
    torch.manual_seed(999)  # a new process would start with different RNG states
    np.random.seed(999)
    resumed = _model(h)
    res_resumed = train_mesh_vqvae(resumed, train, val, settings, tmp_path / "b.pt")
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    assert res_full["val_pve_mm"] == res_resumed["val_pve_mm"]
    ck = load_checkpoint(tmp_path / "b.pt")
    assert ck["step"] == 6 and ck["model_config"] == CONFIG.to_dict()
    rebuilt = load_mesh_vqvae(tmp_path / "b.pt")
    assert rebuilt.n_tokens == h.n_tokens and rebuilt.codebook_size == CONFIG.codebook_size
    assert torch.equal(rebuilt.encode_indices(val), resumed.eval().encode_indices(val))


class _Recording(FileFrameSampler):
    """The file-then-frame sampler, recording the rows of every batch it draws."""

    def __init__(self, ids):
        super().__init__(ids)
        self.batches: list[list[int]] = []

    def draw(self, n, generator):
        rows = super().draw(n, generator)
        self.batches.append(rows.tolist())
        return rows


def test_batches_drawn_file_then_frame_and_resumed_on_the_same_draws(tmp_path, data):
    h, train, val = data
    ids = [motion_row_id("amass", 0, t) for t in range(14)] + [motion_row_id("amass", 1, t) for t in (0, 1)]
    settings = TrainSettings(steps=4, batch_size=8, lr=1e-3, val_every=2, ckpt_every=2, seed=5)
    full = _Recording(ids)
    train_mesh_vqvae(_model(h), train, val, settings, tmp_path / "a.pt", rows=full)
    g = torch.Generator().manual_seed(settings.seed)
    expected = [FileFrameSampler(ids).draw(8, g).tolist() for _ in range(4)]
    assert full.batches == expected
    drawn = np.concatenate(full.batches)
    assert np.mean(drawn >= 14) > 0.25, "the 2-frame file weighs as much as the 14-frame one, not 1/8"

    def kill_at_4(metrics, step):
        if step == 4:
            raise _Killed

    first = _Recording(ids)
    with pytest.raises(_Killed):
        train_mesh_vqvae(_model(h), train, val, settings, tmp_path / "b.pt", log=kill_at_4, rows=first)
    second = _Recording(ids)
    train_mesh_vqvae(_model(h), train, val, settings, tmp_path / "b.pt", rows=second)
    assert first.batches[:2] + second.batches == expected
    with pytest.raises(ValueError, match="covers 3 rows"):
        train_mesh_vqvae(_model(h), train, val, settings, tmp_path / "c.pt", rows=FileFrameSampler(ids[:3]))


def test_lr_schedules():
    const = TrainSettings(steps=100, lr=2e-3)
    assert [const.lr_at(s) for s in (0, 50, 99)] == [2e-3] * 3
    cos = TrainSettings(steps=100, lr=2e-3, lr_schedule="cosine")
    assert cos.lr_at(0) == pytest.approx(2e-3)
    assert cos.lr_at(50) == pytest.approx(1e-3)
    assert cos.lr_at(99) == pytest.approx(2e-3 * 0.5 * (1 + np.cos(np.pi * 0.99)))
    assert all(cos.lr_at(s) > cos.lr_at(s + 1) for s in range(99))
    with pytest.raises(ValueError, match="lr_schedule 'linear'"):
        TrainSettings(lr_schedule="linear").lr_at(0)


def test_cosine_schedule_reaches_the_optimiser(tmp_path, data):
    h, train, val = data
    seen: list[float] = []
    orig = torch.optim.Adam.step

    def spy(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return orig(self, *args, **kwargs)

    settings = TrainSettings(
        steps=4, batch_size=2, lr=1e-3, val_every=10, ckpt_every=10, lr_schedule="cosine"
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(torch.optim.Adam, "step", spy)
        train_mesh_vqvae(_model(h), train, val, settings, tmp_path / "s.pt")
    assert seen == pytest.approx([settings.lr_at(s) for s in range(4)])


def test_training_reduces_error(tmp_path, data):
    h, train, val = data
    model = _model(h)
    before = evaluate_reconstruction(model, val)["pve_mm"]
    settings = TrainSettings(steps=30, batch_size=8, lr=3e-3, val_every=30, ckpt_every=30)
    after = train_mesh_vqvae(model, train, val, settings, tmp_path / "c.pt")
    assert after["val_pve_mm"] < before


def test_nan_loss_stops_with_step_and_value(tmp_path, data):
    h, train, val = data
    bad = train.clone()
    bad[:] = float("nan")
    settings = TrainSettings(steps=3, batch_size=2, val_every=10, ckpt_every=10)
    with pytest.raises(FloatingPointError, match=r"nan at step 1"):
        train_mesh_vqvae(_model(h), bad, val, settings, tmp_path / "d.pt")


def test_tokenize_and_evaluate(data):
    h, _, val = data
    model = _model(h)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ids, pve = tokenize(model, val, batch_size=3)
    assert ids.dtype == np.int16 and ids.shape == (len(val), model.n_tokens)
    assert pve.dtype == np.float32 and pve.shape == (len(val),)
    recon = model.decode_indices(torch.from_numpy(ids).long())
    expected = (recon - recon.mean(1, keepdim=True) - val).norm(dim=-1).mean(1) * 1000
    np.testing.assert_allclose(pve, expected.detach().numpy(), rtol=1e-5)
    m = evaluate_reconstruction(model, val, batch_size=5)
    assert m["pa_pve_mm"] <= m["pve_mm"] + 1e-6
    assert m["pve_mm"] == pytest.approx(float(pve.mean()), rel=1e-5)
    assert 0 < m["codes_in_use"] <= 1 and 1 - 1e-6 <= m["perplexity"] <= 16
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # codebook untouched


def test_same_run_writes_the_same_checkpoint_bytes_whatever_the_global_rng_state(tmp_path, data):
    """The checkpoint stores numpy's and python's global RNG states: the trainer must seed them."""
    import random

    h, train, val = data
    settings = TrainSettings(steps=2, batch_size=4, lr=1e-3, val_every=2, ckpt_every=2, seed=3)
    for i, name in enumerate(("a.pt", "b.pt")):
        np.random.seed(100 + i)  # whatever ran before in the process
        random.seed(200 + i)
        train_mesh_vqvae(_model(h), train, val, settings, tmp_path / name)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()
