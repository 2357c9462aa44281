"""Converting the original release files: the tokenizer reproduces the original's outputs, VQ-HPS keeps every
tensor and the original's conventions, and wrong files are refused with one line."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers.original_ckpt import manifest_keys, random_release_state, save_release, shared_reference
from vqhps.models import original_keys as ok
from vqhps.models import released
from vqhps.models.pretrained import load_mesh_vqvae, load_vqhps

# A hand-made 6D output: a1 = 3 z, a2 = x. Rows (pytorch3d, the original): R = [z; x; y].
D6 = torch.tensor([0.0, 0.0, 3.0, 1.0, 0.0, 0.0])
R_ROWS = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
CAM = torch.tensor([0.9, 0.05, -0.1])


@pytest.fixture(scope="module")
def original_ckpt():
    return shared_reference("original_ckpt")


@pytest.fixture(scope="module")
def connections():
    return shared_reference("meshconv")


def _run(argv: list) -> int:
    return released.main([str(a) for a in argv])


def test_mesh_vqvae_reproduces_the_original_tokens_and_meshes(original_ckpt, connections, tmp_path):
    assert (
        _run(
            ["--mesh-vqvae", original_ckpt / "mesh-vqvae_54", "--connections", connections, "--out", tmp_path]
        )
        == 0
    )
    model = load_mesh_vqvae(tmp_path / "train_mesh_vqvae" / "model.pt")
    ref = np.load(original_ckpt / "reference_meshvqvae.npz")
    indices = torch.from_numpy(ref["indices"])
    assert indices.unique().numel() == indices.numel() == 216  # every token a different code
    tokens = model.encode_indices(torch.from_numpy(ref["meshes"]))
    assert torch.equal(tokens, indices)
    with torch.no_grad():
        decoded = model.decode_indices(indices)
    expected = torch.from_numpy(ref["decoded"])
    assert (decoded - expected).norm() / expected.norm() < 1e-4
    assert (decoded - expected).abs().max() < 1e-4 * expected.abs().max()


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error: ")
    return err


def _mesh_state(original_ckpt) -> dict:
    return torch.load(original_ckpt / "mesh-vqvae_54", map_location="cpu", weights_only=True)["model"]


@pytest.mark.parametrize(
    "damage", ["drop_codebook", "extra_key", "small_codebook", "not_a_release", "not_a_checkpoint"]
)
def test_mesh_vqvae_refuses_a_wrong_file(original_ckpt, connections, tmp_path, capsys, damage):
    state = dict(_mesh_state(original_ckpt))
    named = {
        "drop_codebook": "vq_vae._embedding.weight",
        "extra_key": "vq_vae.extra",
        "small_codebook": "vq_vae._embedding.weight",
        "not_a_release": "'model'",
        "not_a_checkpoint": "weights_only=True",
    }[damage]
    if damage == "drop_codebook":
        del state["vq_vae._embedding.weight"]
    elif damage == "extra_key":
        state["vq_vae.extra"] = torch.zeros(1)
    elif damage == "small_codebook":
        state["vq_vae._embedding.weight"] = state["vq_vae._embedding.weight"][:256]
    path = tmp_path / "mesh_vqvae_54"
    torch.save(state if damage == "not_a_release" else {"model": state, "loss": 1.0}, path)
    if damage == "not_a_checkpoint":
        path.write_text("a text file\n")
    assert _run(["--mesh-vqvae", path, "--connections", connections, "--out", tmp_path / "out"]) == 2
    err = _one_error_line(capsys)
    assert str(path) in err and named in err
    assert not (tmp_path / "out" / "train_mesh_vqvae" / "model.pt").exists()


def test_vqhps_file_given_as_the_mesh_vqvae_is_refused(original_ckpt, connections, tmp_path, capsys):
    keys = [k for k in manifest_keys(original_ckpt, "vqhps_hrnet") if k[0].startswith("transformer.")]
    path = save_release(tmp_path / "vqhps_hrnet", random_release_state(keys))
    assert _run(["--mesh-vqvae", path, "--connections", connections, "--out", tmp_path]) == 2
    err = _one_error_line(capsys)
    assert "missing 'decoder.model." in err and "unexpected 'transformer." in err


# --- VQ-HPS (HRNet-W48) on a random file with the manifest's key set -------------------------------------


@pytest.fixture(scope="module")
def vqhps_release(original_ckpt, tmp_path_factory):
    """(folder, state) of a DDP-saved random ``vqhps_hrnet`` with a hand-made rotation and camera output."""
    folder = tmp_path_factory.mktemp("release")
    state = random_release_state(manifest_keys(original_ckpt, "vqhps_hrnet"))
    state["rot_predictor.weight"] = torch.zeros(6, 1024)
    state["rot_predictor.bias"] = D6.clone()
    state["cam_predictor.weight"] = torch.zeros(3, 1024)
    state["cam_predictor.bias"] = CAM.clone()
    save_release(folder / "vqhps_hrnet", state, ddp=True)
    rng = np.random.default_rng(0)
    np.save(folder / "tpose.npy", rng.normal(0, 0.3, (1, 6890, 3)))
    reg = rng.random((17, 6890))
    np.save(folder / "J_regressor_h36m.npy", reg / reg.sum(1, keepdims=True))
    return folder, state


@pytest.fixture(scope="module")
def converted(vqhps_release, original_ckpt, connections):
    folder, _ = vqhps_release
    argv = [
        "--mesh-vqvae",
        original_ckpt / "mesh-vqvae_54",
        "--connections",
        connections,
        "--vqhps",
        folder / "vqhps_hrnet",
        "--tpose",
        folder / "tpose.npy",
        "--j-regressor",
        folder / "J_regressor_h36m.npy",
        "--out",
        folder / "out",
    ]
    assert _run(argv) == 0
    return load_vqhps(folder / "out" / "train_vqhps" / "model.pt")


def test_vqhps_conversion_keeps_every_tensor(vqhps_release, converted):
    _, state = vqhps_release
    own = converted.model.state_dict()
    kept = 0
    for key, value in state.items():
        ours = ok.vqhps_to_project(key)
        if ours is None:
            assert ok.is_dropped_vqhps_key(key), key
            continue
        assert torch.equal(own[ours], value), key
        kept += 1
    assert kept == len(own) - 1  # every project tensor but the rest joints came from the file
    assert converted.regime == "released" and converted.model.config.rot6d_layout == "rows"


def test_vqhps_rest_joints_are_the_regressed_tpose(vqhps_release, converted):
    folder, _ = vqhps_release
    tpose = np.load(folder / "tpose.npy")[0]
    reg = np.load(folder / "J_regressor_h36m.npy")
    expected = torch.from_numpy((reg @ tpose).astype(np.float32))
    torch.testing.assert_close(converted.model.rotcam.rest_joints.view(17, 3), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(converted.joint_regressor, torch.from_numpy(reg.astype(np.float32)))


def test_vqhps_predict_uses_the_original_rotation_and_camera(converted):
    torch.manual_seed(0)
    pred = converted.predict(torch.randn(2, 3, 64, 64))  # tiny crops: one cheap HRNet-W48 forward
    out = pred.output
    assert out.indices.shape == (2, 54) and out.indices.dtype == torch.int64
    assert int(out.indices.min()) >= 0 and int(out.indices.max()) < 512
    torch.testing.assert_close(out.rotmat, R_ROWS.expand(2, 3, 3))  # rows, not SPIN's columns
    torch.testing.assert_close(out.cam, CAM.expand(2, 3))
    torch.testing.assert_close(pred.canonical, converted.mesh_vqvae.decode_indices(out.indices))
    torch.testing.assert_close(pred.verts, pred.canonical @ R_ROWS.T)
    assert pred.verts.shape == (2, 6890, 3) and torch.isfinite(pred.verts).all()


def _mha(q, k, v, state, prefix, heads=8):
    """Sequence-first multi-head attention with the packed projections of ``prefix`` (original names)."""
    return F.multi_head_attention_forward(
        q,
        k,
        v,
        q.shape[-1],
        heads,
        state[f"{prefix}.in_proj_weight"],
        state[f"{prefix}.in_proj_bias"],
        None,
        None,
        False,
        0.0,
        state[f"{prefix}.out_proj.weight"],
        state[f"{prefix}.out_proj.bias"],
        training=False,
        need_weights=False,
    )[0]


def _ln(x, state, prefix):
    return F.layer_norm(x, x.shape[-1:], state[f"{prefix}.weight"], state[f"{prefix}.bias"])


def _lin(x, state, prefix):
    return F.linear(x, state[f"{prefix}.weight"], state.get(f"{prefix}.bias"))


def _original_logits(features: torch.Tensor, s: dict) -> torch.Tensor:
    """The original's token branch on (B, 720, h, w) features, written from its layout (sequence-first)."""
    b, _, h, w = features.shape
    src = F.conv2d(features, s["conv_1x1.weight"], s["conv_1x1.bias"]).flatten(2).permute(2, 0, 1)
    ones = torch.ones(h, w)
    y, x = ones.cumsum(0), ones.cumsum(1)
    y, x = y / (y[-1:] + 1e-6) * 2 * math.pi, x / (x[:, -1:] + 1e-6) * 2 * math.pi
    dim_t = 10000 ** (2 * (torch.arange(256) // 2) / 256)
    py, px = y[..., None] / dim_t, x[..., None] / dim_t
    py = torch.stack((py[..., 0::2].sin(), py[..., 1::2].cos()), -1).flatten(2)
    px = torch.stack((px[..., 0::2].sin(), px[..., 1::2].cos()), -1).flatten(2)
    pos = torch.cat((py, px), -1).reshape(h * w, 1, 512)
    e = "transformer.encoder.layers.0"
    s2 = _ln(src, s, f"{e}.norm1")
    src = src + _mha(s2 + pos, s2 + pos, s2, s, f"{e}.self_attn")
    src = src + _lin(F.relu(_lin(_ln(src, s, f"{e}.norm2"), s, f"{e}.linear1")), s, f"{e}.linear2")
    memory = _ln(src, s, "transformer.encoder.norm")
    d = "transformer.decoder.layers.0"
    tgt = s["mesh_token_embed.weight"][:, None].repeat(1, b, 1)
    t2 = _ln(tgt, s, f"{d}.norm1")
    tgt = tgt + _mha(t2, t2, t2, s, f"{d}.self_attn")
    tgt = tgt + _mha(_ln(tgt, s, f"{d}.norm2"), memory + pos, memory, s, f"{d}.multihead_attn")
    tgt = tgt + _lin(F.relu(_lin(_ln(tgt, s, f"{d}.norm3"), s, f"{d}.linear1")), s, f"{d}.linear2")
    x = _ln(tgt, s, "transformer.decoder.norm")  # (T, B, d), read by the head as (batch T, length B)
    hb = "transformer.dec_head.blocks.0"
    a = _ln(x, s, f"{hb}.ln1")
    n, t, c = a.shape
    q, k, v = (
        _lin(a, s, f"{hb}.attn.{p}").view(n, t, 8, c // 8).transpose(1, 2) for p in ("query", "key", "value")
    )
    att = (q @ k.transpose(-2, -1)) / math.sqrt(c // 8)
    att = att.masked_fill(s[f"{hb}.attn.mask"][:, :, :t, :t] == 0, float("-inf")).softmax(-1)
    x = x + _lin((att @ v).transpose(1, 2).reshape(n, t, c), s, f"{hb}.attn.proj")
    x = x + _lin(F.gelu(_lin(_ln(x, s, f"{hb}.ln2"), s, f"{hb}.mlp.0")), s, f"{hb}.mlp.2")
    logits = F.linear(_ln(x, s, "transformer.dec_head.ln_f"), s["transformer.dec_head.head.weight"])
    return logits.transpose(0, 1)


def test_vqhps_token_branch_equals_the_original_computation(vqhps_release, converted):
    _, state = vqhps_release
    features = torch.randn(3, 720, 7, 7, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = converted.model.token_logits(features)
        expected = _original_logits(features, state)
    assert (ours - expected).norm() / expected.norm() < 1e-5
    assert torch.equal(ours.argmax(-1), expected.argmax(-1))


@pytest.mark.parametrize("damage", ["drop", "extra", "mask"])
def test_vqhps_refuses_a_wrong_file(vqhps_release, converted, tmp_path, damage):
    _, state = vqhps_release
    state = dict(state)
    if damage == "drop":
        del state["backbone_rot.downsample_stage_1.4.running_var"]
    elif damage == "extra":
        state["backbone_rot.head.weight"] = torch.zeros(1)
    else:
        state["transformer.dec_head.blocks.0.attn.mask"] = torch.ones(1, 1, 54, 54)
    path = save_release(tmp_path / "vqhps_hrnet", state)
    with pytest.raises(released.ReleaseError) as info:
        released.convert_vqhps(path, converted.mesh_vqvae, converted.model.rotcam.rest_joints)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    assert {
        "drop": "'backbone_rot.downsample_stage_1.4.running_var'",
        "extra": "'backbone_rot.head.weight'",
        "mask": "not causal",
    }[damage] in message


def test_vqhps_needs_the_rest_pose_files(original_ckpt, connections, tmp_path):
    with pytest.raises(SystemExit) as info:
        _run(
            [
                "--mesh-vqvae",
                original_ckpt / "mesh-vqvae_54",
                "--connections",
                connections,
                "--vqhps",
                tmp_path / "x",
                "--out",
                tmp_path,
            ]
        )
    assert info.value.code == 2


def test_a_refused_vqhps_file_writes_nothing(vqhps_release, original_ckpt, connections, tmp_path, capsys):
    folder, _ = vqhps_release
    wrong = save_release(tmp_path / "vqhps_resnet", {"backbone_pose.0.weight": torch.zeros(64, 3, 7, 7)})
    argv = [
        "--mesh-vqvae", original_ckpt / "mesh-vqvae_54", "--connections", connections, "--vqhps", wrong,
        "--tpose", folder / "tpose.npy", "--j-regressor", folder / "J_regressor_h36m.npy",
        "--out", tmp_path / "out",
    ]  # fmt: skip
    assert _run(argv) == 2
    assert "ResNet-50" in _one_error_line(capsys)
    assert not (tmp_path / "out").exists()  # not even the tokenizer, which was fine


def test_a_wrong_regressor_is_named(vqhps_release, original_ckpt, connections, tmp_path, capsys):
    folder, _ = vqhps_release
    np.save(tmp_path / "J_regressor_24.npy", np.zeros((24, 6890)))
    argv = [
        "--mesh-vqvae", original_ckpt / "mesh-vqvae_54", "--connections", connections,
        "--vqhps", folder / "vqhps_hrnet", "--tpose", folder / "tpose.npy",
        "--j-regressor", tmp_path / "J_regressor_24.npy", "--out", tmp_path / "out",
    ]  # fmt: skip
    assert _run(argv) == 2
    err = _one_error_line(capsys)
    assert "J_regressor_24.npy" in err and "(24, 6890)" in err
    assert not (tmp_path / "out").exists()
