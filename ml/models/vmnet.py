"""The two-branch projection of VM-Net (clip level) and Seg-VM-Net (segment level).

docs/method.md §3. Each modality has its own fully connected branch that maps an input
vector (a segment's mean frame features, or a whole clip's) to a point on the unit
sphere of a shared space:

- music: ``input -> 2048 -> 1024 -> 512``; video: ``input -> 2048 -> 512``;
- ReLU and dropout (0.5) after every hidden layer; the last layer is linear,
  followed by batch normalisation and L2 normalisation.

The input normalisation (per-dimension mean and standard deviation of the training
inputs) is a buffer of the branch, so a checkpoint or an ONNX file carries it and a
caller always feeds raw features.

At clip level a branch may also start with a temporal pooling layer
(:mod:`ml.models.pooling`) and then takes frame sequences ``(batch, time, dim)``
instead of vectors ``(batch, dim)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ml.models.pooling import POOLING_KINDS, make_pooling

__all__ = [
    "MODEL_KINDS",
    "BranchConfig",
    "FeatureNormalizer",
    "ProjectionBranch",
    "TwoBranchConfig",
    "TwoBranchNet",
    "segvmnet_config",
    "vmnet_config",
]

MODEL_KINDS = ("vmnet", "segvmnet")


@dataclass(frozen=True)
class BranchConfig:
    """Shape of one branch. ``pooling`` is None for vector inputs."""

    input_dim: int
    hidden_dims: tuple[int, ...]
    output_dim: int = 512
    dropout: float = 0.5
    pooling: str | None = None

    def __post_init__(self) -> None:
        if self.input_dim < 1 or self.output_dim < 1 or any(h < 1 for h in self.hidden_dims):
            raise ValueError(f"layer widths must be positive: {self}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.pooling is not None and self.pooling not in POOLING_KINDS:
            raise ValueError(f"unknown pooling {self.pooling!r}; expected one of {POOLING_KINDS}")
        object.__setattr__(self, "hidden_dims", tuple(int(h) for h in self.hidden_dims))


@dataclass(frozen=True)
class TwoBranchConfig:
    """Both branches and the model kind ("vmnet": clip level, "segvmnet": segment level)."""

    kind: str
    music: BranchConfig
    video: BranchConfig
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"unknown model kind {self.kind!r}; expected one of {MODEL_KINDS}")
        if self.music.output_dim != self.video.output_dim:
            raise ValueError(
                "both branches must embed into the same space: "
                f"music {self.music.output_dim} != video {self.video.output_dim}"
            )
        if self.kind == "segvmnet" and (self.music.pooling or self.video.pooling):
            raise ValueError("Seg-VM-Net takes segment vectors; pooling is for clip level only")

    @property
    def embedding_dim(self) -> int:
        return self.music.output_dim

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TwoBranchConfig:
        return cls(
            kind=data["kind"],
            music=BranchConfig(
                **{**data["music"], "hidden_dims": tuple(data["music"]["hidden_dims"])}
            ),
            video=BranchConfig(
                **{**data["video"], "hidden_dims": tuple(data["video"]["hidden_dims"])}
            ),
            extra=dict(data.get("extra", {})),
        )


def segvmnet_config(
    music_dim: int,
    video_dim: int,
    *,
    embedding_dim: int = 512,
    music_hidden: tuple[int, ...] = (2048, 1024),
    video_hidden: tuple[int, ...] = (2048,),
    dropout: float = 0.5,
) -> TwoBranchConfig:
    """Seg-VM-Net with the published widths unless overridden."""
    return TwoBranchConfig(
        kind="segvmnet",
        music=BranchConfig(music_dim, music_hidden, embedding_dim, dropout),
        video=BranchConfig(video_dim, video_hidden, embedding_dim, dropout),
    )


def vmnet_config(
    music_dim: int,
    video_dim: int,
    *,
    embedding_dim: int = 512,
    music_hidden: tuple[int, ...] = (2048, 1024),
    video_hidden: tuple[int, ...] = (2048,),
    dropout: float = 0.5,
    pooling: str | None = None,
) -> TwoBranchConfig:
    """VM-Net (clip level); ``pooling`` makes both branches take frame sequences."""
    return TwoBranchConfig(
        kind="vmnet",
        music=BranchConfig(music_dim, music_hidden, embedding_dim, dropout, pooling),
        video=BranchConfig(video_dim, video_hidden, embedding_dim, dropout, pooling),
    )


class FeatureNormalizer(nn.Module):
    """``(x - mean) / std`` per input dimension, with statistics stored as buffers.

    Starts as the identity; :meth:`fit` sets the statistics from training inputs.
    """

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    @torch.no_grad()
    def fit(self, inputs: np.ndarray | torch.Tensor) -> None:
        """Set mean and std from ``inputs`` of shape (..., dim), any leading axes."""
        x = torch.as_tensor(np.asarray(inputs), dtype=torch.float64)
        if x.dim() < 2 or x.shape[-1] != self.mean.numel():
            raise ValueError(
                f"expected inputs (..., {self.mean.numel()}), got shape {tuple(x.shape)}"
            )
        x = x.reshape(-1, x.shape[-1])
        if x.shape[0] < 2:
            raise ValueError("need at least two input vectors to estimate the statistics")
        if not torch.isfinite(x).all():
            raise ValueError("inputs contain NaN or infinite values")
        self.mean.copy_(x.mean(dim=0).to(self.mean.dtype))
        # A constant dimension carries no information: dividing by ~0 would only blow
        # up noise, so it is left unscaled.
        std = x.std(dim=0)
        self.std.copy_(torch.where(std > self.eps, std, torch.ones_like(std)).to(self.std.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class ProjectionBranch(nn.Module):
    """normalise -> [pool over time] -> (Linear, ReLU, Dropout)* -> Linear -> BN -> L2."""

    def __init__(self, config: BranchConfig) -> None:
        super().__init__()
        self.config = config
        self.normalizer = FeatureNormalizer(config.input_dim)
        self.pooling = make_pooling(config.pooling, config.input_dim) if config.pooling else None
        layers: list[nn.Module] = []
        width = config.input_dim
        for hidden in config.hidden_dims:
            layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(config.dropout)]
            width = hidden
        layers.append(nn.Linear(width, config.output_dim))
        self.mlp = nn.Sequential(*layers)
        self.batch_norm = nn.BatchNorm1d(config.output_dim)

    @property
    def takes_sequences(self) -> bool:
        return self.pooling is not None

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        expected = 3 if self.takes_sequences else 2
        # The check is Python-side; skipped while tracing for ONNX export, where the
        # shapes are symbolic and the graph carries its own input signature.
        if not torch.jit.is_tracing() and (
            x.dim() != expected or x.shape[-1] != self.config.input_dim
        ):
            layout = "(batch, time, dim)" if self.takes_sequences else "(batch, dim)"
            raise ValueError(
                f"branch expects {layout} with dim={self.config.input_dim}, "
                f"got shape {tuple(x.shape)}"
            )
        h = self.normalizer(x)
        if self.pooling is not None:
            h = self.pooling(h, mask)
        h = self.batch_norm(self.mlp(h))
        return F.normalize(h, p=2.0, dim=-1)


class TwoBranchNet(nn.Module):
    """VM-Net / Seg-VM-Net: independent music and video branches into one space."""

    def __init__(self, config: TwoBranchConfig) -> None:
        super().__init__()
        self.config = config
        self.music = ProjectionBranch(config.music)
        self.video = ProjectionBranch(config.video)

    @property
    def kind(self) -> str:
        return self.config.kind

    @property
    def embedding_dim(self) -> int:
        return self.config.embedding_dim

    def fit_normalization(
        self, music_inputs: np.ndarray | torch.Tensor, video_inputs: np.ndarray | torch.Tensor
    ) -> None:
        """Store the input statistics of the training data in both branches."""
        self.music.normalizer.fit(music_inputs)
        self.video.normalizer.fit(video_inputs)

    def embed_music(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.music(x, mask)

    def embed_video(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.video(x, mask)

    def forward(
        self, music: torch.Tensor, video: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.music(music), self.video(video)
