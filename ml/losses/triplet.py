"""The triplet loss on squared Euclidean distances (docs/method.md §4).

``L(a, p, n) = max(||f(a) - f(p)||^2 - ||f(a) - f(n)||^2 + margin, 0)``
"""

from __future__ import annotations

import torch

__all__ = ["Triplets", "squared_distances", "triplet_loss"]


def squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Row-wise ``||a_i - b_i||^2`` for two (N, d) tensors."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    return (a - b).pow(2).sum(dim=-1)


def triplet_loss(
    anchor: torch.Tensor,
    positive: torch.Tensor,
    negative: torch.Tensor,
    margin: float = 0.1,
    reduction: str = "mean",
) -> torch.Tensor:
    """Hinge on the gap between anchor-positive and anchor-negative squared distances.

    ``reduction`` is "mean", "sum" or "none" (one value per triplet). An empty batch
    of triplets gives 0 (for "mean" and "sum"), so optional loss terms can be skipped
    without special cases.
    """
    if margin < 0:
        raise ValueError(f"margin must be non-negative, got {margin}")
    per_triplet = torch.relu(
        squared_distances(anchor, positive) - squared_distances(anchor, negative) + margin
    )
    if reduction == "none":
        return per_triplet
    if reduction == "sum":
        return per_triplet.sum()
    if reduction == "mean":
        return per_triplet.mean() if per_triplet.numel() else per_triplet.sum()
    raise ValueError(f"unknown reduction {reduction!r}; expected 'mean', 'sum' or 'none'")


class Triplets:
    """Index triplets into the rows of embedding matrices: ``anchor[i]`` goes with
    ``positive[i]`` and against ``negative[i]``. Which matrix each index refers to is
    up to the loss term (e.g. anchor in video, positive and negative in music)."""

    __slots__ = ("anchor", "negative", "positive")

    def __init__(self, anchor, positive, negative) -> None:
        a = torch.as_tensor(anchor, dtype=torch.long).reshape(-1)
        p = torch.as_tensor(positive, dtype=torch.long).reshape(-1)
        n = torch.as_tensor(negative, dtype=torch.long).reshape(-1)
        if not (a.numel() == p.numel() == n.numel()):
            raise ValueError(
                f"triplet index arrays differ in length: {a.numel()}, {p.numel()}, {n.numel()}"
            )
        self.anchor, self.positive, self.negative = a, p, n

    def __len__(self) -> int:
        return int(self.anchor.numel())

    def to(self, device: torch.device | str) -> Triplets:
        return Triplets(self.anchor.to(device), self.positive.to(device), self.negative.to(device))

    def __repr__(self) -> str:
        return f"Triplets(n={len(self)})"
