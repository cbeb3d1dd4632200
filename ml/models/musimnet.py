"""MuSimNet: a convolutional network that embeds music for track-to-track similarity.

docs/method.md §3. Input: a log-power constant-Q patch of 96 bins x 512 frames
(:mod:`ml.features.cqt`), seen as a one-channel image (frequency x time). Two variants:

- ``"vgg"``: five blocks of 3x3 convolution, batch normalisation, ReLU and max pooling
  with 128, 256, 512, 1024, 2048 filters and pools (2,4), (2,4), (2,4), (3,3), (4,2)
  (frequency, time), which take 96 x 512 down to 1 x 1; then a linear layer of
  d = 128 units and L2 normalisation.
- ``"autopool"`` (the best published variant): half the filters (64 ... 1024), pools
  (2,2) x 4 then (6,1), which keeps 32 time steps (about 0.37 s each); the linear layer
  is applied at every time step, and auto-pooling (a learned mix of mean and max,
  :class:`ml.models.pooling.AutoPooling`) summarises the 32 embeddings before the L2
  normalisation.

Filter counts, pools, d and the patch size are configurable, so that tests can train
tiny versions of either variant. Per-bin input standardisation (mean and standard
deviation of the training CQTs) is a buffer of the model: callers feed raw dB values,
and a checkpoint or ONNX export carries the statistics.

At test time a track is represented by the mean embedding of 8 random patches
(:func:`embed_track`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ml.features.cqt import N_BINS, PATCH_FRAMES, random_patches
from ml.models.pooling import AutoPooling

__all__ = [
    "MUSIMNET_KIND",
    "MUSIMNET_VARIANTS",
    "MuSimNet",
    "MuSimNetConfig",
    "embed_track",
    "embed_tracks",
    "input_statistics",
]

#: The ``kind`` of a MuSimNet checkpoint and registry entry.
MUSIMNET_KIND = "musimnet"
MUSIMNET_VARIANTS = ("vgg", "autopool")

_DEFAULT_FILTERS = {
    "vgg": (128, 256, 512, 1024, 2048),
    "autopool": (64, 128, 256, 512, 1024),
}
_DEFAULT_POOLS = {
    "vgg": ((2, 4), (2, 4), (2, 4), (3, 3), (4, 2)),
    "autopool": ((2, 2), (2, 2), (2, 2), (2, 2), (6, 1)),
}
TRACK_PATCHES = 8


@dataclass(frozen=True)
class MuSimNetConfig:
    """Architecture of a MuSimNet; ``filters`` and ``pools`` default to the variant's
    published values (one entry per convolution block)."""

    variant: str = "autopool"
    filters: tuple[int, ...] | None = None
    pools: tuple[tuple[int, int], ...] | None = None
    embedding_dim: int = 128
    n_bins: int = N_BINS
    patch_frames: int = PATCH_FRAMES

    def __post_init__(self) -> None:
        if self.variant not in MUSIMNET_VARIANTS:
            raise ValueError(
                f"unknown variant {self.variant!r}; expected one of {MUSIMNET_VARIANTS}"
            )
        filters = tuple(int(f) for f in (self.filters or _DEFAULT_FILTERS[self.variant]))
        pools = tuple((int(p[0]), int(p[1])) for p in (self.pools or _DEFAULT_POOLS[self.variant]))
        object.__setattr__(self, "filters", filters)
        object.__setattr__(self, "pools", pools)
        if len(filters) != len(pools) or not filters:
            raise ValueError(f"need one pool per block: {len(filters)} filters, {len(pools)} pools")
        if min(filters) < 1 or self.embedding_dim < 1 or min(min(p) for p in pools) < 1:
            raise ValueError("filters, pools and embedding_dim must be positive")
        freq, time = self.output_grid
        if freq < 1 or time < 1:
            raise ValueError(
                f"pools {pools} shrink a {self.n_bins} x {self.patch_frames} patch to nothing"
            )

    @property
    def output_grid(self) -> tuple[int, int]:
        """(frequency, time) size of the last feature map (floor division per pool)."""
        freq, time = self.n_bins, self.patch_frames
        for pf, pt in self.pools:  # type: ignore[union-attr]
            freq, time = freq // pf, time // pt
        return freq, time

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["filters"] = list(self.filters)  # type: ignore[arg-type]
        data["pools"] = [list(p) for p in self.pools]  # type: ignore[union-attr]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MuSimNetConfig:
        data = dict(data)
        data["filters"] = tuple(data["filters"]) if data.get("filters") else None
        data["pools"] = tuple(tuple(p) for p in data["pools"]) if data.get("pools") else None
        return cls(**data)


def _conv_block(in_channels: int, out_channels: int, pool: tuple[int, int]) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(pool),
    )


class MuSimNet(nn.Module):
    """Maps CQT patches ``(batch, n_bins, patch_frames)`` (raw dB) to unit vectors
    ``(batch, embedding_dim)``."""

    def __init__(self, config: MuSimNetConfig | None = None) -> None:
        super().__init__()
        self.config = config or MuSimNetConfig()
        channels = (1, *self.config.filters)  # type: ignore[misc]
        self.blocks = nn.Sequential(
            *(
                _conv_block(c_in, c_out, pool)
                for c_in, c_out, pool in zip(channels[:-1], channels[1:], self.config.pools)  # type: ignore[arg-type]
            )
        )
        self.projection = nn.Linear(channels[-1], self.config.embedding_dim)
        self.autopool = (
            AutoPooling(self.config.embedding_dim) if self.config.variant == "autopool" else None
        )
        self.register_buffer("input_mean", torch.zeros(self.config.n_bins))
        self.register_buffer("input_std", torch.ones(self.config.n_bins))

    def set_input_statistics(
        self, mean: np.ndarray | torch.Tensor, std: np.ndarray | torch.Tensor
    ) -> None:
        """Store per-bin standardisation statistics (see :func:`input_statistics`)."""
        mean = torch.as_tensor(mean, dtype=torch.float32)
        std = torch.as_tensor(std, dtype=torch.float32)
        if mean.shape != (self.config.n_bins,) or std.shape != (self.config.n_bins,):
            raise ValueError(f"statistics must have shape ({self.config.n_bins},)")
        if not (std > 0).all():
            raise ValueError("standard deviations must be positive")
        self.input_mean.copy_(mean)
        self.input_std.copy_(std)

    def frame_embeddings(self, patches: torch.Tensor) -> torch.Tensor:
        """Un-normalised embeddings per remaining time step: ``(batch, steps, d)``.

        Any frequency extent left after the last pool is max-pooled away (none with the
        published pools).
        """
        if patches.dim() != 3 or patches.shape[1:] != (
            self.config.n_bins,
            self.config.patch_frames,
        ):
            raise ValueError(
                f"expected (batch, {self.config.n_bins}, {self.config.patch_frames}) patches, "
                f"got {tuple(patches.shape)}"
            )
        x = (patches - self.input_mean[:, None]) / self.input_std[:, None]
        x = self.blocks(x.unsqueeze(1))  # (batch, channels, freq, time)
        x = x.amax(dim=2).transpose(1, 2)  # (batch, time, channels)
        return self.projection(x)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        steps = self.frame_embeddings(patches)
        if self.autopool is not None:
            pooled = self.autopool(steps)
        else:
            # The VGG pools leave one time step; a longer patch would leave a few, and
            # max over them keeps the VGG reading (max pooling) of the rest.
            pooled = steps.amax(dim=1)
        return F.normalize(pooled, p=2, dim=1)


def input_statistics(cqts: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-bin mean and standard deviation over all frames of the training CQTs.

    A bin with no variation gets a standard deviation of 1, so it passes through
    unchanged instead of dividing by zero.
    """
    if len(cqts) == 0:
        raise ValueError("no CQTs to compute statistics from")
    n_bins = cqts[0].shape[0]
    total = np.zeros(n_bins)
    total_sq = np.zeros(n_bins)
    count = 0
    for cqt in cqts:
        c = np.asarray(cqt, dtype=np.float64)
        if c.ndim != 2 or c.shape[0] != n_bins:
            raise ValueError(f"every CQT must be ({n_bins}, n_frames), got {c.shape}")
        total += c.sum(axis=1)
        total_sq += (c**2).sum(axis=1)
        count += c.shape[1]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    std[std < 1e-6] = 1.0
    return mean.astype(np.float32), std.astype(np.float32)


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def embed_tracks(
    model: MuSimNet,
    cqts: Sequence[np.ndarray],
    n_patches: int = TRACK_PATCHES,
    seed: int = 0,
    batch_size: int = 64,
) -> np.ndarray:
    """Track embeddings ``(n_tracks, d)``: the mean over ``n_patches`` random patches.

    Patch positions come from ``seed`` (per call, in track order), so the same model and
    tracks always give the same embeddings. The model is put in eval mode. The mean of
    unit vectors is kept as published (not re-normalised); its norm is at most 1.
    """
    rng = np.random.default_rng(seed)
    model.eval()
    device = _device_of(model)
    tracks_per_batch = max(1, batch_size // n_patches)
    means = []
    # Patches are cut a few tracks at a time: a catalog's patches would not fit in memory.
    for start in range(0, len(cqts), tracks_per_batch):
        group = cqts[start : start + tracks_per_batch]
        patches = np.concatenate(
            [random_patches(c, n_patches, model.config.patch_frames, rng) for c in group]
        )
        embeddings = model(torch.from_numpy(patches).to(device)).cpu().numpy()
        means.append(embeddings.reshape(len(group), n_patches, -1).mean(axis=1))
    return np.concatenate(means)


def embed_track(
    model: MuSimNet, cqt: np.ndarray, n_patches: int = TRACK_PATCHES, seed: int = 0
) -> np.ndarray:
    """One track's embedding ``(d,)``: see :func:`embed_tracks`."""
    return embed_tracks(model, [cqt], n_patches, seed)[0]
