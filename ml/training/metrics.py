"""Validation retrieval metrics and the JSON-lines metrics log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

__all__ = ["MetricsLog", "paired_retrieval_ranks", "retrieval_summary"]


@torch.no_grad()
def paired_retrieval_ranks(
    queries: torch.Tensor, targets: torch.Tensor, chunk: int = 1024
) -> torch.Tensor:
    """1-based rank of ``targets[i]`` among all targets for query ``queries[i]``.

    Ranking by squared Euclidean distance; ties count in the query's favour
    (rank = 1 + number of strictly closer targets). Works in chunks of queries so
    that large validation sets never build the full N x N matrix.
    """
    if queries.shape != targets.shape or queries.dim() != 2:
        raise ValueError(f"expected paired (N, d) matrices, got {queries.shape}, {targets.shape}")
    ranks = []
    for start in range(0, len(queries), chunk):
        q = queries[start : start + chunk]
        d = torch.cdist(q, targets).pow(2)
        own = d[torch.arange(len(q)), torch.arange(start, start + len(q))].unsqueeze(1)
        ranks.append(1 + (d < own).sum(dim=1))
    return torch.cat(ranks)


def retrieval_summary(ranks: torch.Tensor) -> dict[str, float]:
    """Mean rank, mean rank as a share of the catalog (chance ~0.5), Recall@1/10."""
    n = len(ranks)
    r = ranks.double()
    return {
        "mean_rank": float(r.mean()),
        "mean_rank_fraction": float(r.mean() / n),
        "recall_at_1": float((r <= 1).double().mean()),
        "recall_at_10": float((r <= 10).double().mean()),
    }


class MetricsLog:
    """One JSON object per line and per epoch, appended as training goes.

    On resume, :meth:`truncate_after` drops the lines of epochs past the checkpoint
    (written after the last checkpoint by a run that was then interrupted), so the
    log reads as one uninterrupted run.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def truncate_after(self, epoch: int) -> None:
        if not self.path.exists():
            return
        kept = [
            line
            for line in self.path.read_text().splitlines()
            if line.strip() and json.loads(line).get("epoch", -1) <= epoch
        ]
        self.path.write_text("".join(f"{line}\n" for line in kept))

    def append(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
