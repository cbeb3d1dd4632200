"""The VGGish network (Hershey et al., 2017, "CNN architectures for large-scale
audio classification") in PyTorch, with the parameter names of the widely used
``torchvggish`` port, so that its state_dict loads as it is.

Input: ``(batch, 1, 96, 64)`` log-mel examples (96 frames of 10 ms, 64 bands).
Four VGG blocks of 3 x 3 convolutions (64; 128; 256, 256; 512, 512), each block
followed by 2 x 2 max pooling, leave a ``512 x 6 x 4`` map; it is flattened in
TensorFlow's (height, width, channel) order -- the order the original weights
were trained with -- and goes through 4096 -> 4096 -> 128 fully connected layers.

Parameter names: ``features.{0,3,6,8,11,13}.{weight,bias}`` (convolutions; the
gaps are ReLU and pooling layers) and ``embeddings.{0,2,4}.{weight,bias}``.

The 128-d embedding is the output of the last linear layer **without** a ReLU,
as in the original TensorFlow model (``fc2`` has no activation) and in the
AudioSet release; ``torchvggish`` appends a ReLU there, which would zero about
half of the coordinates before PCA.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["EMBEDDING_DIM", "VGGishNet"]

EMBEDDING_DIM = 128
_CONV_CHANNELS = (64, "pool", 128, "pool", 256, 256, "pool", 512, 512, "pool")


class VGGishNet(nn.Module):
    """VGGish: ``(batch, 1, 96, 64)`` log-mel examples -> ``(batch, 128)`` embeddings."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 1
        for spec in _CONV_CHANNELS:
            if spec == "pool":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(in_channels, int(spec), 3, padding=1), nn.ReLU(inplace=True)]
                in_channels = int(spec)
        self.features = nn.Sequential(*layers)
        self.embeddings = nn.Sequential(
            nn.Linear(512 * 6 * 4, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, EMBEDDING_DIM),
        )

    def forward(self, examples: torch.Tensor) -> torch.Tensor:
        x = self.features(examples)  # (batch, 512, 6, 4)
        x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # TensorFlow's NHWC flattening
        return self.embeddings(x)
