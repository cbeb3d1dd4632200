"""Fit the weight of the synchronisation evidence on a model's validation clips.

:func:`ml.ranking.fusion.fuse_evidence` subtracts ``w`` times the standardised
evidence above the query's mean from the standardised learned distance. Whether cuts on the beat say anything about the
right track depends on how the user's videos were edited, so the weight is measured,
not assumed: each validation clip's video ranks the validation clips' soundtracks as
the service would (learned cost with its hubness correction, then the evidence), and
the weight of :data:`WEIGHT_GRID` with the lowest mean rank of the right track wins.
A handful of clips often ranks perfectly at several weights: ties go to the weight
whose right tracks lead the best wrong one by the widest margin (in standard
deviations of the query's fused scores, :func:`fused_margins`), then to the smaller
weight, so the evidence stays off (``w = 0``) unless it helps. With fewer than
:data:`MIN_CLIPS` validation clips nothing can be measured and the weight is
:data:`PRIOR_WEIGHT`: the evidence is training-free and ranked far above chance
alone on every world measured (docs/experiments.md), so a user with a dozen clips
gets it at equal say rather than not at all. A user
has tens of clips, so a handful of validation videos: each ranks the soundtracks of
every clip, training clips included, so that a rank says something even then (the
training soundtracks are only distractors; the query's own is held out).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ml.evaluation.retrieval import EvaluationError, answer_ranks
from ml.ranking.fusion import fuse_evidences

__all__ = [
    "MIN_CLIPS",
    "PRIOR_WEIGHT",
    "WEIGHT_GRID",
    "SyncWeightFit",
    "fit_sync_weight",
    "fused_margins",
]

#: The weights tried, smallest first.
WEIGHT_GRID: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0)
#: Fewer validation clips than this are too few to fit the weight by.
MIN_CLIPS = 3
#: The weight without enough validation clips: the evidence and the learned distance
#: get equal say.
PRIOR_WEIGHT = 1.0


@dataclass(frozen=True)
class SyncWeightFit:
    """The chosen weight and the mean rank of every weight tried.

    ``mean_ranks[w]`` is the mean rank of the right soundtrack among ``n_clips`` and
    ``margins[w]`` its mean margin (:func:`fused_margins`); empty when there were too
    few clips to fit.
    """

    weight: float
    n_clips: int
    mean_ranks: dict[float, float]
    margins: dict[float, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "weight": self.weight,
            "validation_clips": self.n_clips,
            "mean_rank_by_weight": {str(w): r for w, r in self.mean_ranks.items()},
            "margin_by_weight": {str(w): m for w, m in self.margins.items()},
        }


def fused_margins(fused: np.ndarray) -> np.ndarray:
    """``(n,)`` margins of query ``i``'s right candidate ``i`` over its best wrong one,
    in standard deviations of the row: ``(min_{j != i} f_ij - f_ii) / std_j(f_ij)`` for
    fused distances ``f`` ``(n, C >= n)``, lower is better; positive when the right
    candidate leads, 0 for a constant row."""
    f = np.asarray(fused, dtype=np.float64)
    n = f.shape[0]
    right = f[np.arange(n), np.arange(n)]
    wrong = np.where(np.eye(n, f.shape[1], dtype=bool), np.inf, f).min(axis=1)
    std = f.std(axis=1)
    return np.divide(wrong - right, std, out=np.zeros(n), where=std > 1e-12)


def fit_sync_weight(
    distances: np.ndarray,
    evidence: np.ndarray,
    grid: tuple[float, ...] = WEIGHT_GRID,
    fixed: Sequence[tuple[np.ndarray, float]] = (),
) -> SyncWeightFit:
    """The weight of ``grid`` with the lowest mean rank; among equals, the widest mean
    margin (:func:`fused_margins`), then the smallest weight.

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
    fixed : sequence of (np.ndarray, float)
        Other evidence the service fuses at a fixed weight, ``(n, C)`` scores and
        weight each (the structure agreement): fused at every weight tried, so the
        weight is the one that serves best beside it.

    Raises
    ------
    EvaluationError
        Shapes that are not ``(n, C >= n)`` and equal, or an empty or negative grid.
    """
    d = np.asarray(distances, dtype=np.float64)
    s = np.asarray(evidence, dtype=np.float64)
    if (
        d.ndim != 2
        or d.shape[0] > d.shape[1]
        or any(np.shape(x) != d.shape for x in (s, *(f for f, _ in fixed)))
    ):
        raise EvaluationError(f"need two (n, C >= n) matrices, got {d.shape} and {s.shape}")
    if not grid or min(grid) < 0:
        raise EvaluationError("the weight grid must be non-empty and non-negative")
    n = d.shape[0]
    if n < MIN_CLIPS:
        return SyncWeightFit(PRIOR_WEIGHT, n, {})
    fused = {float(w): fuse_evidences(d, [(s, w), *fixed]) for w in sorted(grid)}
    ranks = {w: float(answer_ranks(f).mean()) for w, f in fused.items()}
    # Rounded: equal margins computed through other arithmetic stay equal.
    margins = {w: round(float(fused_margins(f).mean()), 9) for w, f in fused.items()}
    best = min(ranks, key=lambda w: (ranks[w], -margins[w], w))
    return SyncWeightFit(best, n, ranks, margins)
