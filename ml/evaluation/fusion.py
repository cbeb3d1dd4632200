"""Fit the weight of the synchronisation evidence on a model's validation clips.

:func:`ml.ranking.fusion.fuse_evidence` adds ``w`` times the standardised evidence to
the standardised learned distance. Whether cuts on the beat say anything about the
right track depends on how the user's videos were edited, so the weight is measured,
not assumed: each validation clip's video ranks the validation clips' soundtracks as
the service would (learned cost with its hubness correction, then the evidence), and
the weight of :data:`WEIGHT_GRID` with the lowest mean rank of the right track wins.
Ties go to the smaller weight, so the evidence stays off (``w = 0``) unless it
helps; with fewer than :data:`MIN_CLIPS` validation clips it stays off too. A user
has tens of clips, so a handful of validation videos: each ranks the soundtracks of
every clip, training clips included, so that a rank says something even then (the
training soundtracks are only distractors; the query's own is held out).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml.evaluation.retrieval import EvaluationError, answer_ranks
from ml.ranking.fusion import fuse_evidence

__all__ = ["MIN_CLIPS", "WEIGHT_GRID", "SyncWeightFit", "fit_sync_weight"]

#: The weights tried, smallest first.
WEIGHT_GRID: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0)
#: Fewer validation clips than this leave the evidence off.
MIN_CLIPS = 3


@dataclass(frozen=True)
class SyncWeightFit:
    """The chosen weight and the mean rank of every weight tried.

    ``mean_ranks[w]`` is the mean rank of the right soundtrack among ``n_clips``;
    empty when there were too few clips to fit.
    """

    weight: float
    n_clips: int
    mean_ranks: dict[float, float]

    def to_dict(self) -> dict:
        return {
            "weight": self.weight,
            "validation_clips": self.n_clips,
            "mean_rank_by_weight": {str(w): r for w, r in self.mean_ranks.items()},
        }


def fit_sync_weight(
    distances: np.ndarray,
    evidence: np.ndarray,
    grid: tuple[float, ...] = WEIGHT_GRID,
) -> SyncWeightFit:
    """The weight of ``grid`` with the lowest mean rank (the smallest among equals).

    Parameters
    ----------
    distances : np.ndarray
        ``(n, C)`` learned distances of validation video ``i`` to soundtrack ``j``
        (hubness-corrected as served), lower is better; video ``i``'s own soundtrack
        is ``j = i``, ``C >= n``.
    evidence : np.ndarray
        ``(n, C)`` synchronisation scores, higher is better, NaN where none.
    grid : tuple of float
        Weights to try, each >= 0.

    Raises
    ------
    EvaluationError
        Shapes that are not ``(n, C >= n)`` and equal, or an empty or negative grid.
    """
    d = np.asarray(distances, dtype=np.float64)
    s = np.asarray(evidence, dtype=np.float64)
    if d.ndim != 2 or d.shape[0] > d.shape[1] or s.shape != d.shape:
        raise EvaluationError(f"need two (n, C >= n) matrices, got {d.shape} and {s.shape}")
    if not grid or min(grid) < 0:
        raise EvaluationError("the weight grid must be non-empty and non-negative")
    n = d.shape[0]
    if n < MIN_CLIPS:
        return SyncWeightFit(0.0, n, {})
    ranks = {float(w): float(answer_ranks(fuse_evidence(d, s, w)).mean()) for w in sorted(grid)}
    best = min(ranks, key=lambda w: (ranks[w], w))
    return SyncWeightFit(best, n, ranks)
