"""Temporal pooling layers: turn a sequence of frame features into one clip vector.

docs/method.md §3: clip-level models improve when the mean over time is replaced by a
learned aggregation. Both layers here map ``(batch, time, dim) -> (batch, dim)`` and
accept an optional boolean ``mask`` of shape ``(batch, time)`` (True = a real frame)
so that clips of different lengths can share a padded batch.

- :class:`AttentionPooling`: ``alpha_t = softmax_t(tanh(w . x_t + b))``,
  ``y = sum_t alpha_t x_t`` (one scalar weight per frame).
- :class:`AutoPooling` (McFee, Salamon & Bello, 2018): per dimension,
  ``y_d = sum_t softmax_t(a_d x_td) x_td``; ``a_d = 0`` is mean pooling, ``a_d -> +inf``
  max pooling, ``a_d -> -inf`` min pooling. ``a`` is learned.
- :class:`MeanPooling`: the unlearned baseline, same interface.

:func:`sample_frame_indices` draws the 100 random frames per clip that the method
trains (and infers) with.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = [
    "POOLING_KINDS",
    "AttentionPooling",
    "AutoPooling",
    "MeanPooling",
    "make_pooling",
    "sample_frame_indices",
]

POOLING_KINDS = ("mean", "attention", "auto")


def _check_sequence(x: torch.Tensor) -> None:
    if x.dim() != 3:
        raise ValueError(f"pooling expects (batch, time, dim), got shape {tuple(x.shape)}")


def _masked_softmax_over_time(logits: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Softmax over axis 1; masked frames get weight exactly 0."""
    if mask is not None:
        mask = mask.to(torch.bool)
        while mask.dim() < logits.dim():
            mask = mask.unsqueeze(-1)
        logits = logits.masked_fill(~mask, float("-inf"))
    return torch.softmax(logits, dim=1)


class MeanPooling(nn.Module):
    """Mean over time (masked frames excluded)."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        _check_sequence(x)
        if mask is None:
            return x.mean(dim=1)
        weights = mask.to(x.dtype).unsqueeze(-1)
        return (x * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)


class AttentionPooling(nn.Module):
    """One learned scalar weight per frame: ``softmax_t(tanh(w . x_t + b))``.

    ``w`` starts at zero so the layer starts as exact mean pooling and learns to
    depart from it; the ``tanh`` bounds the logits, so no single frame can take all
    the weight (at most ``e^2`` times another frame's).
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.score = nn.Linear(dim, 1)
        nn.init.zeros_(self.score.weight)
        nn.init.zeros_(self.score.bias)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        _check_sequence(x)
        logits = torch.tanh(self.score(x))  # (B, T, 1)
        alpha = _masked_softmax_over_time(logits, mask)
        return (alpha * x).sum(dim=1)


class AutoPooling(nn.Module):
    """Auto-pooling: a learned, per-dimension interpolation between mean and max.

    ``alpha`` starts at zero (mean pooling).
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        _check_sequence(x)
        weights = _masked_softmax_over_time(self.alpha * x, mask)  # (B, T, D)
        return (weights * x).sum(dim=1)


def make_pooling(kind: str, dim: int) -> nn.Module:
    """Build the pooling layer named ``kind`` (one of :data:`POOLING_KINDS`)."""
    if kind == "mean":
        return MeanPooling()
    if kind == "attention":
        return AttentionPooling(dim)
    if kind == "auto":
        return AutoPooling(dim)
    raise ValueError(f"unknown pooling {kind!r}; expected one of {POOLING_KINDS}")


def sample_frame_indices(
    n_frames: int, n_samples: int = 100, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Indices of ``n_samples`` frames drawn uniformly at random, in time order.

    Clips shorter than ``n_samples`` frames are drawn with replacement, so every clip
    yields a fixed-size ``(n_samples, dim)`` block and clips batch without padding.
    Pass a seeded generator at inference for a reproducible embedding.
    """
    if n_frames < 1:
        raise ValueError("cannot sample frames from an empty clip")
    if n_samples < 1:
        raise ValueError(f"n_samples must be positive, got {n_samples}")
    rng = np.random.default_rng() if rng is None else rng
    replace = n_frames < n_samples
    return np.sort(rng.choice(n_frames, size=n_samples, replace=replace))
