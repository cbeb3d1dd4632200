"""Validation retrieval metrics (ranked by :mod:`ml.metrics.ranks`) and the JSON-lines
metrics log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ml.metrics.ranks import answer_ranks

__all__ = ["MetricsLog", "paired_retrieval_ranks", "retrieval_summary"]


@torch.no_grad()
def paired_retrieval_ranks(
    queries: torch.Tensor, targets: torch.Tensor, chunk: int = 1024
) -> torch.Tensor:
    """1-based rank of ``targets[i]`` among all targets for query ``queries[i]``.

    ``queries`` and ``targets`` are paired (N, d) embeddings on any device; the cost is
    the squared Euclidean distance, computed on their device in blocks of ``chunk``
    queries (a large validation set never builds the full N x N matrix). Each block is
    ranked by :func:`ml.metrics.ranks.answer_ranks`, the one rank definition (ties by
    mid-rank), so early stopping watches the rank the evaluation tables report.

    Returns a float64 tensor (N,) on the CPU, values in ``[1, N]``.
    """
    if queries.shape != targets.shape or queries.dim() != 2:
        raise ValueError(f"expected paired (N, d) matrices, got {queries.shape}, {targets.shape}")
    ranks = []
    for start in range(0, len(queries), chunk):
        q = queries[start : start + chunk]
        distances = torch.cdist(q, targets).pow(2).cpu().numpy()
        ranks.append(answer_ranks(distances, np.arange(start, start + len(q))))
    return torch.from_numpy(np.concatenate(ranks))


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
