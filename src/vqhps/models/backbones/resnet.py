"""ResNet-50 feature extractor in plain PyTorch with torchvision's exact state-dict key layout."""

from __future__ import annotations

from pathlib import Path

from torch import Tensor, nn

from vqhps.models.backbones.weights import load_state_dict_file, load_strict

# torchvision's resnet50: Bottleneck blocks per stage and the width of each stage's 3x3 convolution.
RESNET50_LAYERS = (3, 4, 6, 3)
RESNET50_WIDTHS = (64, 128, 256, 512)
# Keys of the classification head: present in torchvision checkpoints, absent here by design (the feature
# extractor stops before the global pool), so ``load_pretrained`` drops exactly these and nothing else.
CLASSIFIER_KEYS = ("fc.weight", "fc.bias")


class Bottleneck(nn.Module):
    """ResNet v1.5 bottleneck (stride on the 3x3 conv, as torchvision): 1x1 -> 3x3 -> 1x1 (x4 channels)."""

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int = 1) -> None:
        super().__init__()
        out_channels = width * self.expansion
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet50(nn.Module):
    """ResNet-50 trunk (conv1 ... layer4) returning the last feature map.

    Input ``(B, 3, H, W)`` float32, ImageNet-normalised; output ``(B, 2048, H/32, W/32)``
    (``(B, 2048, 7, 7)`` for 224 px). Parameter names are those of ``torchvision.models.resnet50`` so the
    official ImageNet checkpoint loads strictly (its ``fc`` head excepted, see ``load_pretrained``).
    """

    out_channels = 2048

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        in_channels = 64
        for index, (blocks, width) in enumerate(zip(RESNET50_LAYERS, RESNET50_WIDTHS, strict=True)):
            stride = 1 if index == 0 else 2
            layer = [Bottleneck(in_channels, width, stride)]
            in_channels = width * Bottleneck.expansion
            layer += [Bottleneck(in_channels, width) for _ in range(blocks - 1)]
            setattr(self, f"layer{index + 1}", nn.Sequential(*layer))
        self._init_weights()

    def _init_weights(self) -> None:
        # Same scheme as torchvision: Kaiming (fan_out) for convs, BN gamma 1 / beta 0.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, images: Tensor) -> Tensor:
        """Images (B, 3, H, W) -> features (B, 2048, H/32, W/32)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(images))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def load_pretrained(self, path: str | Path) -> None:
        """Load a torchvision ResNet-50 state dict (e.g. ``resnet50-11ad3fa6.pth``) strictly.

        The classifier keys ``fc.weight``/``fc.bias`` are dropped by design (this trunk has no classifier);
        any other missing or unexpected key, or a shape mismatch, raises ``ValueError`` naming it.
        """
        state = load_state_dict_file(path)
        state = {k: v for k, v in state.items() if k not in CLASSIFIER_KEYS}
        load_strict(self, state, path)
