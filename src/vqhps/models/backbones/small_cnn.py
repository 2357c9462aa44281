"""A small CNN backbone sized for the CPU demo (64-128 px crops, well under a million to a few M params)."""

from __future__ import annotations

from torch import Tensor, nn


def _conv_bn_relu(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)
    )


class SmallCNN(nn.Module):
    """Five stride-2 stages (total stride 32, like ResNet/HRNet here), two 3x3 convs per stage.

    Input ``(B, 3, H, W)`` ImageNet-normalised, H and W multiples of 32; output
    ``(B, 8 * width, H/32, W/32)`` (e.g. (B, 256, 3, 3) for 96 px at width 32). Channels double every stage
    up to ``8 * width``. Width 32 has about 1.6 M parameters.
    """

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"SmallCNN width must be >= 1, got {width}")
        widths = [width, 2 * width, 4 * width, 8 * width, 8 * width]
        layers: list[nn.Module] = []
        c_in = 3
        for c in widths:
            layers += [_conv_bn_relu(c_in, c, 2), _conv_bn_relu(c, c, 1)]
            c_in = c
        self.features = nn.Sequential(*layers)
        self.out_channels = widths[-1]
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, images: Tensor) -> Tensor:
        """Images (B, 3, H, W) -> features (B, 8*width, H/32, W/32)."""
        return self.features(images)
