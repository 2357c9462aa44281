"""The original release's key names map one to one onto this project's, in both directions."""

from __future__ import annotations

import torch

from helpers.original_ckpt import manifest_keys, shared_reference
from vqhps.models import original_keys as ok


def test_every_manifest_vqhps_key_maps_back_to_itself() -> None:
    keys = [k for k, _, _ in manifest_keys(shared_reference("original_ckpt"), "vqhps_hrnet")]
    assert len(keys) == 3801
    dropped = [k for k in keys if ok.is_dropped_vqhps_key(k)]
    assert sorted(dropped) == sorted(
        [f"{b}.final_layer.{p}" for b in ("backbone_pose", "backbone_rot") for p in ("weight", "bias")]
        + ["transformer.dec_head.blocks.0.attn.mask"]
    )
    ours = {k: ok.vqhps_to_project(k) for k in keys if k not in dropped}
    assert None not in ours.values()
    assert len(set(ours.values())) == len(ours)  # one to one
    assert all(ok.vqhps_to_original(v) == k for k, v in ours.items())
    assert ours["transformer.decoder.layers.0.multihead_attn.in_proj_weight"] == (
        "transformer.decoder.0.cross_attn.in_proj_weight"
    )
    assert (
        ours["backbone_rot.downsample_stage_1.7.running_var"]
        == "backbone_rot.downsample_stage_1.2.1.running_var"
    )
    assert ours["fc1.weight"] == "rotcam.fc1.weight"


def test_mesh_vqvae_keys_cover_the_manifest_once() -> None:
    keys = {k for k, _, _ in manifest_keys(shared_reference("original_ckpt"), "mesh_vqvae_54")}
    used, twins = ok.mesh_vqvae_key_map(), ok.mesh_vqvae_twins()
    assert set(used) | set(twins) == keys and not set(used) & set(twins)
    assert used["encoder.model.w_weights6"] == "encoder.6.coeff"  # latent conv read from the encoder copy
    assert used["decoder.model.weights7"] == "decoder.0.basis"  # first decoder conv from the decoder copy
    assert used["decoder.model.p_neighbors12"] == "decoder.5.weight"
    assert twins["decoder.model.weights0"] == "encoder.model.weights0"


def test_ddp_prefix_and_wrapper_leftovers_are_removed() -> None:
    t = torch.zeros(1)
    state = {"module.fc1.weight": t, "module.rotcam_feat.bias": t, "conv_1x1.bias": t}
    assert set(ok.strip_ddp(state)) == {"fc1.weight", "conv_1x1.bias"}
