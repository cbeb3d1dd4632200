"""ResNet-18 and ResNet-50 (He et al., 2016) in PyTorch, without torchvision,
with torchvision's parameter names so that its ImageNet state_dicts load as
they are: ``conv1.weight``, ``bn1.*``, ``layer1.0.conv1.weight``,
``layer2.0.downsample.0.weight`` (projection) / ``downsample.1.*`` (its batch
norm), ... ``fc.weight``.

The network stops at the global average pooling (512-d for ResNet-18, 2048-d
for ResNet-50): the penultimate features. Following torchvision ("ResNet
v1.5"), a bottleneck block strides in its 3 x 3 convolution, not in the first
1 x 1.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ARCHITECTURES", "ResNet", "resnet"]

#: Blocks per stage and block type of each supported depth.
ARCHITECTURES = {"resnet18": ("basic", (2, 2, 2, 2)), "resnet50": ("bottleneck", (3, 4, 6, 3))}
_STAGE_WIDTHS = (64, 128, 256, 512)


def _conv_bn(
    in_channels: int, out_channels: int, kernel: int, stride: int = 1
) -> tuple[nn.Conv2d, nn.BatchNorm2d]:
    conv = nn.Conv2d(in_channels, out_channels, kernel, stride, padding=kernel // 2, bias=False)
    return conv, nn.BatchNorm2d(out_channels)


class BasicBlock(nn.Module):
    """Two 3 x 3 convolutions with a residual connection (ResNet-18/34)."""

    expansion = 1

    def __init__(self, in_channels: int, width: int, stride: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = _conv_bn(in_channels, width, 3, stride)
        self.conv2, self.bn2 = _conv_bn(width, width, 3)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _projection(in_channels, width * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class Bottleneck(nn.Module):
    """1 x 1 reduce, 3 x 3 (strided), 1 x 1 expand by 4, residual (ResNet-50 and up)."""

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = _conv_bn(in_channels, width, 1)
        self.conv2, self.bn2 = _conv_bn(width, width, 3, stride)
        self.conv3, self.bn3 = _conv_bn(width, width * self.expansion, 1)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _projection(in_channels, width * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


def _projection(in_channels: int, out_channels: int, stride: int) -> nn.Sequential | None:
    """The 1 x 1 projection shortcut where the shape changes (``downsample.0/1``)."""
    if stride == 1 and in_channels == out_channels:
        return None
    return nn.Sequential(*_conv_bn(in_channels, out_channels, 1, stride))


class ResNet(nn.Module):
    """``(batch, 3, H, W)`` normalised images -> ``(batch, dim)`` pooled features."""

    def __init__(self, block: str, blocks_per_stage: tuple[int, ...]) -> None:
        super().__init__()
        block_type = {"basic": BasicBlock, "bottleneck": Bottleneck}[block]
        self.conv1, self.bn1 = _conv_bn(3, 64, 7, 2)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_channels = 64
        for stage, (width, n_blocks) in enumerate(
            zip(_STAGE_WIDTHS, blocks_per_stage, strict=True)
        ):
            blocks = []
            for index in range(n_blocks):
                stride = 2 if stage > 0 and index == 0 else 1
                blocks.append(block_type(in_channels, width, stride))
                in_channels = width * block_type.expansion
            self.add_module(f"layer{stage + 1}", nn.Sequential(*blocks))
        self.dim = in_channels

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(images))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)


def resnet(arch: str) -> ResNet:
    """An untrained ``"resnet18"`` or ``"resnet50"``.

    Raises
    ------
    ValueError
        ``arch`` is not in :data:`ARCHITECTURES`.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(
            f"unknown ResNet architecture {arch!r}; choose from {sorted(ARCHITECTURES)}"
        )
    return ResNet(*ARCHITECTURES[arch])
