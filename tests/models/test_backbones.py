"""Backbones: feature shapes, and strict loading of state dicts in the official key layouts.

The expected layouts are written out here independently of the modules: torchvision's ``resnet50`` and
the official ``pose_hrnet_w{W}`` (stage 4's last module with a single fused output, a 17-joint
``final_layer``). A random state dict in that layout is saved and must load strictly.
"""

from __future__ import annotations

import pytest
import torch

from vqhps.models.backbones import build_backbone
from vqhps.models.backbones.hrnet import HRNet

Shapes = dict[str, tuple[int, ...]]


def _bn(shapes: Shapes, prefix: str, c: int) -> None:
    for name in ("weight", "bias", "running_mean", "running_var"):
        shapes[f"{prefix}.{name}"] = (c,)
    shapes[f"{prefix}.num_batches_tracked"] = ()


def _bottleneck(shapes: Shapes, p: str, c_in: int, width: int, downsample: bool) -> None:
    shapes[p + "conv1.weight"] = (width, c_in, 1, 1)
    _bn(shapes, p + "bn1", width)
    shapes[p + "conv2.weight"] = (width, width, 3, 3)
    _bn(shapes, p + "bn2", width)
    shapes[p + "conv3.weight"] = (4 * width, width, 1, 1)
    _bn(shapes, p + "bn3", 4 * width)
    if downsample:
        shapes[p + "downsample.0.weight"] = (4 * width, c_in, 1, 1)
        _bn(shapes, p + "downsample.1", 4 * width)


def torchvision_resnet50_layout() -> Shapes:
    shapes: Shapes = {"conv1.weight": (64, 3, 7, 7)}
    _bn(shapes, "bn1", 64)
    c_in = 64
    for layer, (blocks, width) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512), strict=True), start=1):
        for block in range(blocks):
            _bottleneck(shapes, f"layer{layer}.{block}.", c_in, width, downsample=block == 0)
            c_in = 4 * width
    shapes["fc.weight"], shapes["fc.bias"] = (1000, 2048), (1000,)
    return shapes


def _conv_bn(shapes: Shapes, p: str, c_out: int, c_in: int, k: int) -> None:
    shapes[f"{p}.0.weight"] = (c_out, c_in, k, k)
    _bn(shapes, f"{p}.1", c_out)


def pose_hrnet_layout(width: int, joints: int = 17) -> Shapes:
    shapes: Shapes = {"conv1.weight": (64, 3, 3, 3), "conv2.weight": (64, 64, 3, 3)}
    _bn(shapes, "bn1", 64)
    _bn(shapes, "bn2", 64)
    for block in range(4):
        _bottleneck(shapes, f"layer1.{block}.", 64 if block == 0 else 256, 64, downsample=block == 0)
    _conv_bn(shapes, "transition1.0", width, 256, 3)
    _conv_bn(shapes, "transition1.1.0", 2 * width, 256, 3)
    _conv_bn(shapes, "transition2.2.0", 4 * width, 2 * width, 3)
    _conv_bn(shapes, "transition3.3.0", 8 * width, 4 * width, 3)
    for stage, modules in ((2, 1), (3, 4), (4, 3)):
        ch = [width * 2**b for b in range(stage)]
        for m in range(modules):
            p = f"stage{stage}.{m}."
            for b, c in enumerate(ch):
                for k in range(4):
                    shapes[f"{p}branches.{b}.{k}.conv1.weight"] = (c, c, 3, 3)
                    _bn(shapes, f"{p}branches.{b}.{k}.bn1", c)
                    shapes[f"{p}branches.{b}.{k}.conv2.weight"] = (c, c, 3, 3)
                    _bn(shapes, f"{p}branches.{b}.{k}.bn2", c)
            rows = 1 if (stage == 4 and m == modules - 1) else len(ch)  # official: multi_scale_output=False
            for i in range(rows):
                for j in range(len(ch)):
                    if j > i:
                        _conv_bn(shapes, f"{p}fuse_layers.{i}.{j}", ch[i], ch[j], 1)
                    for k in range(i - j):
                        c_out = ch[i] if k == i - j - 1 else ch[j]
                        _conv_bn(shapes, f"{p}fuse_layers.{i}.{j}.{k}", c_out, ch[j], 3)
    shapes["final_layer.weight"], shapes["final_layer.bias"] = (joints, width, 1, 1), (joints,)
    return shapes


def _random_state(shapes: Shapes, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        k: torch.randint(0, 100, s, generator=g)
        if k.endswith("num_batches_tracked")
        else torch.randn(s, generator=g)
        for k, s in shapes.items()
    }


def test_small_cnn_shapes_and_width() -> None:
    model = build_backbone("small_cnn", width=8).eval()
    out = model(torch.randn(2, 3, 64, 96))
    assert out.shape == (2, model.out_channels, 2, 3) and model.out_channels == 64


def test_resnet50_feature_shape_and_param_count() -> None:
    model = build_backbone("resnet50").eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 224, 224)).shape == (1, 2048, 7, 7)
    # torchvision's 25,557,032 minus the 2048*1000 + 1000 classifier.
    assert sum(p.numel() for p in model.parameters()) == 25_557_032 - 2_049_000


def test_resnet50_loads_torchvision_layout_strictly(tmp_path) -> None:
    state = _random_state(torchvision_resnet50_layout())
    path = tmp_path / "resnet50.pth"
    torch.save(state, path)
    model = build_backbone("resnet50", pretrained=str(path))
    loaded = model.state_dict()
    assert set(loaded) == set(state) - {"fc.weight", "fc.bias"}
    torch.testing.assert_close(loaded["layer3.5.bn2.running_var"], state["layer3.5.bn2.running_var"])
    torch.testing.assert_close(loaded["layer4.0.downsample.0.weight"], state["layer4.0.downsample.0.weight"])


def test_resnet50_rejects_other_layouts(tmp_path) -> None:
    state = _random_state(torchvision_resnet50_layout())
    state["layer5.0.conv1.weight"] = torch.zeros(1)
    del state["layer1.0.conv1.weight"]
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match=r"missing \['layer1.0.conv1.weight'\].*unexpected \['layer5"):
        build_backbone("resnet50", pretrained=str(tmp_path / "bad.pth"))
    with pytest.raises(FileNotFoundError, match="nothere.pth"):
        build_backbone("resnet50", pretrained=str(tmp_path / "nothere.pth"))


def test_hrnet_small_width_loads_official_layout_strictly(tmp_path) -> None:
    state = _random_state(pose_hrnet_layout(width=8), seed=1)
    path = tmp_path / "pose_hrnet_w8.pth"
    torch.save({"state_dict": state}, path)
    model = HRNet(width=8)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    model.load_pretrained(path)
    loaded = model.state_dict()
    new = model.new_key_prefixes()
    assert {k for k in loaded if not k.startswith(new)} == set(state) - {
        "final_layer.weight",
        "final_layer.bias",
    }
    for key, value in loaded.items():
        expected = init[key] if key.startswith(new) else state[key]
        torch.testing.assert_close(value, expected, msg=key)
    # The new keys are exactly the last stage-4 module's fuse rows 1..3 and the 1/32 head.
    assert any(k.startswith("stage4.2.fuse_layers.3.") for k in loaded)
    out = model.eval()(torch.randn(1, 3, 64, 64))
    assert out.shape == (1, 15 * 8, 2, 2)


def test_hrnet_rejects_wrong_width(tmp_path) -> None:
    torch.save(_random_state(pose_hrnet_layout(width=16)), tmp_path / "w16.pth")
    with pytest.raises(ValueError, match="shape mismatches"):
        HRNet(width=8).load_pretrained(tmp_path / "w16.pth")


def test_hrnet_w48_parameter_count_matches_original() -> None:
    # Original per-backbone count: (141,645,817 - 9,871,369) / 2 = 65,887,224, which includes an unused
    # 24-joint final_layer (48*24 + 24 = 1,176 params) that is not built here.
    model = build_backbone("hrnet_w48")
    assert model.out_channels == 720
    assert sum(p.numel() for p in model.parameters()) == (141_645_817 - 9_871_369) // 2 - 1_176


@pytest.mark.slow
def test_hrnet_w48_feature_shape_and_official_load(tmp_path) -> None:
    path = tmp_path / "pose_hrnet_w48_256x192.pth"
    torch.save(_random_state(pose_hrnet_layout(width=48)), path)
    model = build_backbone("hrnet_w48", pretrained=str(path)).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 224, 224)).shape == (1, 720, 7, 7)


def test_unknown_backbone_is_named() -> None:
    with pytest.raises(ValueError, match="unknown backbone 'vit'"):
        build_backbone("vit")
