"""VQ-HPS model: output shapes, causal head, batch independence, parameter parity, overfitting, meshes."""

from __future__ import annotations

import math

import pytest
import torch

from vqhps.losses import token_accuracy, token_cross_entropy
from vqhps.models.token_transformer import sine_position_encoding
from vqhps.models.vqhps import VQHPS, VQHPSConfig, parameter_breakdown


def _tiny(**overrides) -> VQHPS:
    base = dict(
        num_tokens=6,
        codebook_size=16,
        backbone="small_cnn",
        backbone_width=8,
        shared_backbone=True,
        image_size=64,
        d_model=32,
        heads=4,
        ffn=64,
        rotcam_hidden=32,
    )
    base.update(overrides)
    torch.manual_seed(0)
    return VQHPS(VQHPSConfig(**base), rest_joints=torch.randn(17, 3))


def test_output_shapes_argmax_and_valid_rotations() -> None:
    model = _tiny(shared_backbone=False).eval()
    out = model(torch.randn(3, 3, 64, 64))
    assert out.logits.shape == (3, 6, 16) and out.indices.shape == (3, 6) and out.indices.dtype == torch.int64
    torch.testing.assert_close(out.indices, out.logits.argmax(-1))
    eye = torch.eye(3).expand(3, 3, 3)
    torch.testing.assert_close(out.rotmat @ out.rotmat.transpose(1, 2), eye, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.linalg.det(out.rotmat), torch.ones(3), atol=1e-5, rtol=0)
    assert out.cam.shape == (3, 3)


def test_matrix_rotation_output_fits_the_raw_matrix_and_poses_with_its_projection() -> None:
    model = _tiny(rotation_output="matrix")
    assert model.rotcam.rot_predictor.out_features == 9
    out = model(torch.randn(3, 3, 64, 64))
    eye = torch.eye(3).expand(3, 3, 3)
    torch.testing.assert_close(out.rotmat @ out.rotmat.transpose(1, 2), eye, atol=1e-5, rtol=0)
    assert out.rot_fit.requires_grad and not out.rotmat.requires_grad
    assert not torch.allclose(out.rot_fit, out.rotmat)  # the fitted matrix is the raw, unprojected one
    six = _tiny()(torch.randn(2, 3, 64, 64))
    assert six.rot_fit is six.rotmat  # rot6d: the loss fits the rotation itself, as the original
    with pytest.raises(ValueError, match="rotation_output must be one of"):
        _tiny(rotation_output="quaternion")


def test_causal_head_token_i_ignores_later_tokens() -> None:
    head = _tiny().transformer.eval()
    features = torch.randn(2, 6, 32)
    base = head.classify(features)
    changed = features.clone()
    changed[:, 4:] += torch.randn(2, 2, 32)
    out = head.classify(changed)
    torch.testing.assert_close(out[:, :4], base[:, :4])
    assert not torch.allclose(out[:, 4:], base[:, 4:])
    earlier = features.clone()
    earlier[:, 0] += torch.randn(2, 32)  # token 0 is seen by every later token
    assert not torch.allclose(head.classify(earlier)[:, 5], base[:, 5])


def test_samples_in_a_batch_are_independent() -> None:
    # The original's head ran its causal mask over the batch axis; here a sample's logits do not depend
    # on the other samples of the batch.
    model = _tiny().eval()
    images = torch.randn(3, 3, 64, 64)
    full = model(images).logits
    torch.testing.assert_close(model(images[2:]).logits[0], full[2], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(model(images[:1]).logits[0], full[0], atol=1e-5, rtol=1e-5)


def test_original_head_axis_mixes_samples_causally_over_the_batch() -> None:
    # head_attention_axis="batch" (only for the original's released weights): sample b sees samples <= b
    # of the same token, and no other token of its own.
    head = _tiny(head_attention_axis="batch").transformer.eval()
    features = torch.randn(3, 6, 32)
    base = head.classify(features)
    torch.testing.assert_close(head.classify(features[:1]), base[:1])  # sample 0 sees only itself
    later = features.clone()
    later[2] += torch.randn(6, 32)
    torch.testing.assert_close(head.classify(later)[:2], base[:2])
    earlier = features.clone()
    earlier[0, 3] += torch.randn(32)
    out = head.classify(earlier)
    assert not torch.allclose(out[2, 3], base[2, 3])  # sample 2 sees sample 0's token 3
    torch.testing.assert_close(out[1:, [0, 1, 2, 4, 5]], base[1:, [0, 1, 2, 4, 5]])  # other tokens unmixed


def test_rows_layout_is_the_transpose_of_the_columns_layout() -> None:
    columns, rows = _tiny().eval(), _tiny(rot6d_layout="rows").eval()
    rows.load_state_dict(columns.state_dict())
    images = torch.randn(2, 3, 64, 64)
    r_cols, r_rows = columns(images).rotmat, rows(images).rotmat
    torch.testing.assert_close(r_rows, r_cols.transpose(1, 2))
    assert not torch.allclose(r_rows, r_cols, atol=1e-3)
    with pytest.raises(ValueError, match="rot6d_layout"):
        VQHPSConfig(rot6d_layout="diagonal")
    with pytest.raises(ValueError, match="head_attention_axis"):
        VQHPSConfig(head_attention_axis="heads")


def test_non_backbone_parameter_breakdown_matches_original() -> None:
    # A 720-channel small CNN stands in for HRNet-W48's 720-channel head (backbone count tested apart).
    config = VQHPSConfig(backbone="small_cnn", backbone_width=90, shared_backbone=True, image_size=64)
    parts = parameter_breakdown(VQHPS(config, rest_joints=torch.zeros(17, 3)))
    expected = {
        "token_embedding": 27_648,
        "conv_1x1": 369_152,
        "encoder": 2_103_808,
        "decoder": 3_155_456,
        "causal_head": 2_365_952,
        "rotcam": 1_849_353,
    }
    assert {k: v for k, v in parts.items() if k != "backbones"} == expected
    assert sum(expected.values()) == 9_871_369


def test_shared_backbone_is_registered_once() -> None:
    shared, separate = _tiny(shared_backbone=True), _tiny(shared_backbone=False)
    backbone = sum(p.numel() for p in shared.backbone_pose.parameters())
    total = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert total(separate) - total(shared) == backbone


def test_sine_position_encoding_values() -> None:
    pos = sine_position_encoding(7, 7, 512)
    assert pos.shape == (49, 512)
    angle = 2 * math.pi / (7 + 1e-6)  # row 1 of 7, normalised to (0, 2 pi], first frequency 1
    assert pos[0, 0].item() == pytest.approx(math.sin(angle), abs=1e-5)
    assert pos[0, 1].item() == pytest.approx(math.cos(angle), abs=1e-5)
    assert pos[0, 256].item() == pytest.approx(math.sin(angle), abs=1e-5)  # x half, column 1
    # y half depends on the row only, x half on the column only.
    grid = pos.reshape(7, 7, 512)
    torch.testing.assert_close(grid[:, 0, :256], grid[:, 5, :256])
    torch.testing.assert_close(grid[0, :, 256:], grid[4, :, 256:])
    assert len({tuple(p.tolist()) for p in pos}) == 49


def test_predict_mesh_rotates_decoded_canonical_mesh() -> None:
    model = _tiny().eval()
    table = torch.randn(16, 5, 3)

    def decoder(indices: torch.Tensor) -> torch.Tensor:  # (B, T) -> (B, V, 3): a fake frozen decoder
        assert indices.dtype == torch.int64 and not torch.is_grad_enabled()
        return table[indices].sum(1)

    pred = model.predict_mesh(torch.randn(2, 3, 64, 64), decoder)
    torch.testing.assert_close(pred.canonical, decoder_ref(table, pred.output.indices))
    expected = torch.einsum("bij,bvj->bvi", pred.output.rotmat, pred.canonical)
    torch.testing.assert_close(pred.verts, expected)
    assert not pred.canonical.requires_grad and pred.verts.requires_grad  # gradient only through R


def decoder_ref(table: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    return table[indices].sum(1)


def test_overfits_one_tiny_batch(one_torch_thread) -> None:
    torch.manual_seed(0)
    model = _tiny(dropout=0.0, rotcam_dropout=0.0, image_size=32)
    images = torch.randn(4, 3, 32, 32)
    targets = torch.randint(0, 16, (4, 6), generator=torch.Generator().manual_seed(1))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    with torch.no_grad():
        assert token_accuracy(model(images).logits, targets).item() < 0.5
    for _ in range(30):
        loss = token_cross_entropy(model(images).logits, targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.train()  # batch statistics, as during the steps above
    with torch.no_grad():
        assert token_accuracy(model(images).logits, targets).item() == 1.0


def test_config_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError, match="multiple of 32"):
        VQHPSConfig(image_size=100)
    with pytest.raises(ValueError, match="divisible by heads"):
        VQHPSConfig(d_model=100, heads=8)


@pytest.mark.slow
def test_full_hrnet_model_parameter_count() -> None:
    # Original: 141,645,817 trainable, with two unused 24-joint HRNet final_layers (2 * 1,176) not built here.
    model = VQHPS(VQHPSConfig(), rest_joints=torch.zeros(17, 3))
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 141_645_817 - 2 * 1_176
