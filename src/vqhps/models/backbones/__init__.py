"""Image backbones by name: `build_backbone(name, **kw)` -> module with `out_channels`, (B, C, h, w) out."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from vqhps.models.backbones.hrnet import HRNet
from vqhps.models.backbones.resnet import ResNet50
from vqhps.models.backbones.small_cnn import SmallCNN

_REGISTRY: dict[str, Callable[..., nn.Module]] = {
    "small_cnn": SmallCNN,
    "resnet50": ResNet50,
    "hrnet_w48": lambda **kw: HRNet(width=48, **kw),
    "hrnet_w32": lambda **kw: HRNet(width=32, **kw),
}

BACKBONES = tuple(_REGISTRY)


def build_backbone(name: str, pretrained: str | None = None, **kwargs) -> nn.Module:
    """Build a backbone by name, optionally loading official pretrained weights from a local file.

    Args:
        name: one of ``BACKBONES`` ("small_cnn", "resnet50", "hrnet_w48", "hrnet_w32").
        pretrained: path of a torchvision ResNet-50 / official pose_hrnet state dict, or None (random init).
        **kwargs: constructor arguments (e.g. ``width`` for small_cnn).

    Returns:
        A module mapping (B, 3, H, W) images to (B, out_channels, H/32, W/32) features.
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    model = _REGISTRY[name](**kwargs)
    if pretrained:
        if not hasattr(model, "load_pretrained"):
            raise ValueError(f"backbone {name!r} has no pretrained weights; set pretrained to null")
        model.load_pretrained(pretrained)
    return model


__all__ = ["BACKBONES", "HRNet", "ResNet50", "SmallCNN", "build_backbone"]
