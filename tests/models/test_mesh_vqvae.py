"""Mesh-VQ-VAE: shapes, token round trip, any batch size, and the paper's per-layer parameter counts."""

from __future__ import annotations

import pytest
import torch

from helpers.meshes import icosphere
from vqhps.models.connections import random_dfaust2_like, save_connections
from vqhps.models.mesh_hierarchy import HierarchySettings, build_hierarchy
from vqhps.models.mesh_vqvae import MeshVQVAE, MeshVQVAEConfig, layer_table, main

LEVELS = ((1, 1, 1), (2, 2, 2), (1, 1, 1), (2, 2, 2), (1, 1, 1))
# Reference §1.2: per-layer parameters of the medium model on the dfaust2 files.
PAPER_LAYER_PARAMS = [
    620_996, 61_600, 382_321, 22_400, 167_456, 3_564, 19_611,
    19_730, 4_400, 167_392, 26_950, 382_289, 75_790, 620_967,
]  # fmt: skip


@pytest.fixture(scope="module")
def small_model():
    _, faces = icosphere(2)
    torch.manual_seed(0)
    h = build_hierarchy(faces, 162, HierarchySettings(LEVELS))
    return MeshVQVAE(h, MeshVQVAEConfig(channels=(8, 16, 4), codebook_size=32))


def test_shapes_and_any_batch_size(small_model):
    small_model.eval()
    for b in (1, 3):
        out = small_model(torch.randn(b, 162, 3) * 0.1)
        assert out.recon.shape == (b, 162, 3)
        assert out.indices.shape == (b, small_model.n_tokens)
        assert small_model.encode(torch.randn(b, 162, 3)).shape == (b, small_model.n_tokens, 4)
    assert small_model.n_tokens == small_model.hierarchy.point_counts[-1] < 162


def test_tokens_round_trip_and_encoder_output_is_elu(small_model):
    small_model.eval()
    x = torch.randn(2, 162, 3) * 0.1
    out = small_model(x)
    idx = small_model.encode_indices(x)
    assert torch.equal(idx, out.indices)
    torch.testing.assert_close(small_model.decode_indices(idx), out.recon)
    assert small_model.encode(x).min() >= -1.0  # ELU output is bounded below by -1
    last = small_model.decoder[-1]
    assert not last.activation and all(
        layer.activation for layer in small_model.encoder if hasattr(layer, "basis")
    )


@pytest.mark.parametrize("batch", [1, 5])
def test_inference_path_equals_training_path(small_model, batch):
    """Without autograd the model runs channel-major (forward_cm); it must compute the same function."""
    x = torch.randn(batch, 162, 3) * 0.1
    z = torch.randn(batch, small_model.n_tokens, 4)
    with torch.enable_grad():
        z_train, v_train = small_model.encode(x), small_model.decode(z)
    with torch.no_grad():
        z_infer, v_infer = small_model.encode(x), small_model.decode(z)
    torch.testing.assert_close(z_infer, z_train, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(v_infer, v_train, atol=1e-6, rtol=1e-5)


def test_wrong_inputs_are_rejected(small_model):
    with pytest.raises(ValueError, match="expected vertices"):
        small_model.encode(torch.randn(2, 100, 3))
    h = small_model.hierarchy
    with pytest.raises(ValueError, match="conv"):
        MeshVQVAE(h, MeshVQVAEConfig(channels=(8, 4)))
    with pytest.raises(ValueError, match="unknown"):
        MeshVQVAEConfig.from_dict({"chanels": [1]})
    cfg = MeshVQVAEConfig(channels=(8, 16, 4), dead_code_restart=True)
    assert MeshVQVAEConfig.from_dict(cfg.to_dict()) == cfg


def test_dfaust2_shaped_files_give_the_paper_parameter_counts(tmp_path, capsys):
    save_connections(random_dfaust2_like(seed=3), tmp_path)
    assert main(["--connections", str(tmp_path), "--summary"]) == 0
    text = capsys.readouterr().out
    assert text.strip().splitlines()[-1] == "parameters: 2584682"
    from vqhps.models.connections import load_connections

    model = MeshVQVAE(load_connections(tmp_path, 6890))
    rows = layer_table(model)
    assert [r["params"] for r in rows] == PAPER_LAYER_PARAMS
    assert sum(PAPER_LAYER_PARAMS) == 2_575_466
    assert [(r["out_pts"], r["out_ch"]) for r in rows][6] == (54, 9)
    assert model.n_tokens == 54 and model.codebook_size == 512


def test_cli_reports_missing_folder(tmp_path, capsys):
    assert main(["--connections", str(tmp_path / "missing"), "--summary"]) == 2
    assert "does not exist" in capsys.readouterr().err
