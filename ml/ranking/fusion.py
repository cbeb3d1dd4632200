"""Fuse a learned distance with training-free evidence, per query.

The learned cost (any of :mod:`ml.ranking`, after the hubness correction) and a
synchronisation score (:mod:`ml.sync.beat_grid`, higher is better) live on different
scales, and the scale of a distance changes with the model, the cost and the query.
Both are standardised over the candidates of one query, and the evidence above the
query's mean is subtracted with a weight ``w``:

    fused_ij = z(d_i)_j - w * max(z(s_i)_j, 0),    z(x)_j = (x_j - mean(x)) / std(x)

so ``w = 0`` is the learned ranking unchanged. The evidence only promotes: cuts that
fall on a track's beats are evidence for it, while cuts that miss them are weak
evidence against, because the beat tracker misses the grid of some recordings (a
symmetric ``- w z(s)`` pushed those right tracks down: on the recorded world it cost
R@10 about ten points; docs/experiments.md). A candidate without evidence (NaN) gets
the query's mean evidence (``z = 0``): it is neither promoted nor demoted. The weight
is a model's own, fit on its validation clips
(:func:`ml.evaluation.fusion.fit_sync_weight`).

Several kinds of evidence add up, each standardised on its own and with its own
weight (:func:`fuse_evidences`): the cuts-on-beats score at the model's weight and the
structure agreement of :mod:`ml.sync.structure` at its fixed weight.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["fuse_evidence", "fuse_evidences", "standardise_rows"]


def standardise_rows(x: np.ndarray) -> np.ndarray:
    """Each row of ``x`` ``(n_queries, n_candidates)`` minus its mean over its finite
    values, over their standard deviation; NaN becomes 0, a constant row all 0."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected (n_queries, n_candidates), got shape {x.shape}")
    finite = np.isfinite(x)
    count = np.maximum(finite.sum(axis=1, keepdims=True), 1)
    filled = np.where(finite, x, 0.0)
    mean = filled.sum(axis=1, keepdims=True) / count
    centred = np.where(finite, x - mean, 0.0)
    std = np.sqrt((centred**2).sum(axis=1, keepdims=True) / count)
    return np.divide(centred, std, out=np.zeros_like(centred), where=std > 1e-12)


def fuse_evidence(distances: np.ndarray, evidence: np.ndarray, weight: float) -> np.ndarray:
    """``(n_queries, n_candidates)`` fused distances, lower is better.

    Parameters
    ----------
    distances : np.ndarray
        ``(n_queries, n_candidates)`` learned distances, lower is better, finite.
    evidence : np.ndarray
        Same shape, higher is better; NaN where there is none.
    weight : float
        ``w >= 0``; 0 returns the distances unchanged (not standardised), so a model
        without fusion ranks, scores and ties exactly as before.

    Raises
    ------
    ValueError
        Shapes that differ, a distance that is not finite, or a negative weight.
    """
    return fuse_evidences(distances, [(evidence, weight)])


def fuse_evidences(
    distances: np.ndarray, evidences: Sequence[tuple[np.ndarray, float]]
) -> np.ndarray:
    """:func:`fuse_evidence` with several kinds of evidence, ``(scores, weight)`` pairs:
    ``z(d) - sum_k w_k max(z(s_k), 0)``. Pairs of weight 0 are skipped; with none left,
    the distances are returned unchanged. 1-d inputs are one query."""
    d = np.asarray(distances, dtype=np.float64)
    pairs = [(np.asarray(s, dtype=np.float64), w) for s, w in evidences]
    if d.ndim == 1:
        return fuse_evidences(d[None], [(s[None], w) for s, w in pairs])[0]
    for s, weight in pairs:
        if d.shape != s.shape:
            raise ValueError(f"distances {d.shape} and evidence {s.shape} differ in shape")
        if not np.isfinite(weight) or weight < 0:
            raise ValueError(f"weight must be finite and >= 0, got {weight}")
    if not np.all(np.isfinite(d)):
        raise ValueError("distances must be finite")
    pairs = [(s, w) for s, w in pairs if w > 0]
    if not pairs:
        return d
    fused = standardise_rows(d)
    for s, weight in pairs:
        fused = fused - weight * np.maximum(standardise_rows(s), 0.0)
    return fused
