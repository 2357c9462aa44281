"""HRNet (W48 by default) in the official ``pose_hrnet`` key layout, with VQ-HPS's 1/32 feature head."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from vqhps.models.backbones.resnet import Bottleneck
from vqhps.models.backbones.weights import load_state_dict_file, load_strict

# Stage layout of pose_hrnet_w{W} (num_modules, blocks per branch); branch channels are W * 2**branch.
STAGES = ((1, 4), (4, 4), (3, 4))  # stage2, stage3, stage4
STEM_CHANNELS = 64


class BasicBlock(nn.Module):
    """Two 3x3 conv + BN with an identity shortcut (channels unchanged inside HRNet branches)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + x)


def _conv_bn(c_in: int, c_out: int, stride: int, relu: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class HighResolutionModule(nn.Module):
    """Parallel branches of BasicBlocks followed by all-to-all fusion (sum) across resolutions."""

    def __init__(self, channels: list[int], num_blocks: int, multi_scale_output: bool = True) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(*[BasicBlock(c) for _ in range(num_blocks)]) for c in channels
        )
        n_out = len(channels) if multi_scale_output else 1
        self.fuse_layers = nn.ModuleList(
            nn.ModuleList(self._fuse(channels, i, j) for j in range(len(channels))) for i in range(n_out)
        )
        self.relu = nn.ReLU(inplace=True)

    @staticmethod
    def _fuse(channels: list[int], i: int, j: int) -> nn.Module | None:
        """Map branch j to the resolution/channels of branch i (None on the diagonal)."""
        if j == i:
            return None
        if j > i:  # lower resolution -> 1x1 conv then nearest upsampling
            return nn.Sequential(
                nn.Conv2d(channels[j], channels[i], 1, bias=False),
                nn.BatchNorm2d(channels[i]),
                nn.Upsample(scale_factor=2 ** (j - i), mode="nearest"),
            )
        steps = [_conv_bn(channels[j], channels[j], 2, relu=True) for _ in range(i - j - 1)]
        steps.append(_conv_bn(channels[j], channels[i], 2, relu=False))
        return nn.Sequential(*steps)

    def forward(self, xs: list[Tensor]) -> list[Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs, strict=True)]
        fused = []
        for i, row in enumerate(self.fuse_layers):
            y = xs[i]
            for j, layer in enumerate(row):
                if j != i:
                    y = y + layer(xs[j])
            fused.append(self.relu(y))
        return fused


class HRNet(nn.Module):
    """HRNet trunk (``pose_hrnet_w{width}`` names) + VQ-HPS head bringing all 4 branches to 1/32.

    Input ``(B, 3, H, W)`` ImageNet-normalised, H and W multiples of 32. Output
    ``(B, 15 * width, H/32, W/32)``: the four branches (width, 2w, 4w, 8w channels at 1/4 .. 1/32) after
    3, 2, 1 and 0 strided 3x3 conv+BN+ReLU layers, concatenated -> 720 channels at 7x7 for W48 at 224 px.

    Differences from the official checkpoint's module tree, both as in VQ-HPS (reference §3.1):
    the last stage-4 module keeps all four outputs (``multi_scale_output=True``) so its fuse rows 1..3 are
    new, and the ``downsample_stage_{1,2,3}`` head is new; both start from the random init. The official
    ``final_layer`` (heatmap conv) is not built: VQ-HPS never uses it.
    """

    def __init__(self, width: int = 48) -> None:
        super().__init__()
        self.width = width
        self.out_channels = 15 * width
        self.conv1 = nn.Conv2d(3, STEM_CHANNELS, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(STEM_CHANNELS)
        self.conv2 = nn.Conv2d(STEM_CHANNELS, STEM_CHANNELS, 3, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(STEM_CHANNELS)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = nn.Sequential(Bottleneck(STEM_CHANNELS, 64), *[Bottleneck(256, 64) for _ in range(3)])
        previous = [256]
        for stage, (num_modules, num_blocks) in enumerate(STAGES, start=2):
            channels = [width * 2**b for b in range(stage)]
            setattr(self, f"transition{stage - 1}", self._transition(previous, channels))
            modules = [HighResolutionModule(channels, num_blocks) for _ in range(num_modules)]
            setattr(self, f"stage{stage}", nn.Sequential(*modules))
            previous = channels
        for branch, n_down in enumerate((3, 2, 1), start=1):
            c = width * 2 ** (branch - 1)
            setattr(
                self,
                f"downsample_stage_{branch}",
                nn.Sequential(*[_conv_bn(c, c, 2, relu=True) for _ in range(n_down)]),
            )
        self._init_weights()

    @staticmethod
    def _transition(previous: list[int], channels: list[int]) -> nn.ModuleList:
        """Per branch: None (unchanged), a conv to a new width, or a strided conv for a new branch."""
        layers: list[nn.Module | None] = []
        for i, c in enumerate(channels):
            if i < len(previous):
                layers.append(None if previous[i] == c else _conv_bn(previous[i], c, 1, relu=True))
            else:  # pose_hrnet only ever adds one branch per stage: one strided conv from the lowest branch
                layers.append(nn.Sequential(_conv_bn(previous[-1], c, 2, relu=True)))
        return nn.ModuleList(layers)

    def _init_weights(self) -> None:
        # Official pose_hrnet init: conv weights N(0, 0.001), BN gamma 1 / beta 0.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, std=0.001)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def trunk(self, images: Tensor) -> list[Tensor]:
        """Images (B, 3, H, W) -> 4 branch maps [(B, w, H/4, W/4), ..., (B, 8w, H/32, W/32)]."""
        x = self.relu(self.bn1(self.conv1(images)))
        x = self.layer1(self.relu(self.bn2(self.conv2(x))))
        xs = [x]
        for stage in range(2, 5):
            transition = getattr(self, f"transition{stage - 1}")
            inputs = []
            for i, layer in enumerate(transition):
                source = xs[i] if i < len(xs) else xs[-1]
                inputs.append(source if layer is None else layer(source))
            xs = getattr(self, f"stage{stage}")(inputs)
        return xs

    def forward(self, images: Tensor) -> Tensor:
        """Images (B, 3, H, W) -> features (B, 15*width, H/32, W/32)."""
        xs = self.trunk(images)
        heads = [self.downsample_stage_1, self.downsample_stage_2, self.downsample_stage_3]
        return torch.cat([head(x) for head, x in zip(heads, xs[:3], strict=True)] + [xs[3]], dim=1)

    def new_key_prefixes(self) -> tuple[str, ...]:
        """Key prefixes that an official ``pose_hrnet`` checkpoint does not contain (see class docstring)."""
        last = len(self.stage4) - 1
        rows = tuple(f"stage4.{last}.fuse_layers.{i}." for i in range(1, 4))
        return rows + ("downsample_stage_1.", "downsample_stage_2.", "downsample_stage_3.")

    def load_pretrained(self, path: str | Path) -> None:
        """Load an official ``pose_hrnet_w48*.pth`` (COCO/MPII) state dict strictly.

        Dropped by design: ``final_layer.*`` (heatmap head). Left at their init by design, exactly as in
        VQ-HPS: the keys under ``new_key_prefixes()``. Any other missing/unexpected key or shape mismatch
        raises ``ValueError`` naming it. A file that also holds the new keys (e.g. a VQ-HPS backbone) loads
        them too.
        """
        state = {k: v for k, v in load_state_dict_file(path).items() if not k.startswith("final_layer.")}
        own = self.state_dict()
        new = self.new_key_prefixes()
        filled = {k: v for k, v in own.items() if k.startswith(new) and k not in state}
        load_strict(self, {**filled, **state}, path)
