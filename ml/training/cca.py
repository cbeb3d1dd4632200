"""Seg-VM-Net in closed form: regularised CCA, the recipe for tens of music videos.

A user has tens of music videos, a few hundred segment pairs: too few for the
published recipe's two MLPs of millions of weights, which memorise them (docs/
experiments.md, "Learning from tens of clips"). Canonical correlation analysis
(Hotelling 1936) finds the linear projections of the music and the video segment
features that correlate most, in closed form, with one parameter. Both covariance
matrices are shrunk towards a multiple of the identity (regularised CCA, Vinod 1976),

    C_xx(s) = (1 - s) C_xx + s (tr(C_xx) / D) I,    0 < s < 1,

and the shrinkage ``s`` is chosen by cross-validation over clips (as pyrcca does,
Bilenko & Gallant 2016): the training clips are split into folds, each fold's segments
are projected with the CCA of the others, and the shrinkage whose held-out video
segments rank their own music segment best wins (:func:`cross_validated_shrinkage`).
Each canonical direction is weighted by its canonical correlation, so the cosine of
two projections leans on the directions that carry the relation.

The result is a Seg-VM-Net like any other (:func:`linear_branches`): each branch is
the input normaliser, one linear layer and the identity batch norm, then L2, so export,
serving and every cost take it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ml.metrics.ranks import answer_ranks
from ml.models.vmnet import TwoBranchNet

__all__ = [
    "CV_FOLDS",
    "SHRINKAGE_GRID",
    "CCAProjection",
    "cross_validated_shrinkage",
    "fit_cca",
    "linear_branches",
]

#: Shrinkages tried by cross-validation, smallest first.
SHRINKAGE_GRID: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)
#: Folds of the cross-validation over clips (fewer when there are fewer clips).
CV_FOLDS = 5


@dataclass(frozen=True)
class CCAProjection:
    """Canonical directions ``music`` ``(D_m, k)`` and ``video`` ``(D_v, k)`` of
    centred inputs, and their canonical correlations ``(k,)``, largest first.

    With shrinkage the "correlations" are those of the regularised problem (they can
    exceed 1); they order and weight the directions.
    """

    music: np.ndarray
    video: np.ndarray
    correlations: np.ndarray

    @property
    def dim(self) -> int:
        return int(self.correlations.size)

    def embed(self, x: np.ndarray, modality: str) -> np.ndarray:
        """``(N, k)`` unit vectors of centred inputs ``x`` ``(N, D)`` of ``modality``
        (``"music"`` or ``"video"``), each direction weighted by its correlation."""
        weights = self.music if modality == "music" else self.video
        y = x @ (weights * self.correlations)
        return y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)


def _shrunk(cov: np.ndarray, shrinkage: float) -> np.ndarray:
    scale = np.trace(cov) / len(cov)
    return (1.0 - shrinkage) * cov + shrinkage * scale * np.eye(len(cov))


def _inverse_sqrt(cov: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(cov)
    return (vectors / np.sqrt(np.maximum(values, 1e-12))) @ vectors.T


def fit_cca(music: np.ndarray, video: np.ndarray, shrinkage: float) -> CCAProjection:
    """Regularised CCA of paired rows ``music`` ``(N, D_m)`` and ``video`` ``(N, D_v)``.

    The inputs are centred here (the directions apply to centred inputs);
    ``k = min(D_m, D_v)`` directions are returned.

    Raises
    ------
    ValueError
        Unpaired or non-finite inputs, fewer than two rows, or a shrinkage outside
        ``(0, 1]``.
    """
    m = np.asarray(music, dtype=np.float64)
    v = np.asarray(video, dtype=np.float64)
    if m.ndim != 2 or v.ndim != 2 or len(m) != len(v):
        raise ValueError(f"need paired (N, D) rows, got {m.shape} and {v.shape}")
    if len(m) < 2:
        raise ValueError("need at least two pairs")
    if not (np.all(np.isfinite(m)) and np.all(np.isfinite(v))):
        raise ValueError("inputs contain NaN or infinite values")
    if not 0.0 < shrinkage <= 1.0:
        raise ValueError(f"shrinkage must be in (0, 1], got {shrinkage}")
    m = m - m.mean(axis=0)
    v = v - v.mean(axis=0)
    n = len(m)
    whiten_m = _inverse_sqrt(_shrunk(m.T @ m / n, shrinkage))
    whiten_v = _inverse_sqrt(_shrunk(v.T @ v / n, shrinkage))
    u, s, vt = np.linalg.svd(whiten_m @ (m.T @ v / n) @ whiten_v, full_matrices=False)
    return CCAProjection(whiten_m @ u, whiten_v @ vt.T, s)


def _held_out_ranks(
    music: np.ndarray, video: np.ndarray, held: np.ndarray, shrinkage: float
) -> np.ndarray:
    """Ranks of each held-out video row's own music row among the held-out music rows,
    with the CCA of the other rows (standardised by their statistics)."""
    train_m, train_v = music[~held], video[~held]
    mean_m, sd_m = train_m.mean(axis=0), train_m.std(axis=0, ddof=1)
    mean_v, sd_v = train_v.mean(axis=0), train_v.std(axis=0, ddof=1)
    sd_m, sd_v = np.where(sd_m > 1e-6, sd_m, 1.0), np.where(sd_v > 1e-6, sd_v, 1.0)
    cca = fit_cca((train_m - mean_m) / sd_m, (train_v - mean_v) / sd_v, shrinkage)
    m = cca.embed((music[held] - mean_m) / sd_m, "music")
    v = cca.embed((video[held] - mean_v) / sd_v, "video")
    return answer_ranks(-(v @ m.T))


def cross_validated_shrinkage(
    music: np.ndarray,
    video: np.ndarray,
    clip_index: np.ndarray,
    grid: tuple[float, ...] = SHRINKAGE_GRID,
    folds: int = CV_FOLDS,
    seed: int = 0,
) -> tuple[float, dict[float, float]]:
    """The shrinkage of ``grid`` whose held-out segments rank best, and every one's
    mean held-out rank.

    Clips (``clip_index`` ``(N,)``, one id per row) are dealt into ``folds`` folds in
    an order drawn from ``seed``; a segment is scored only against the segments of its
    own fold, never seen by the CCA that projects it. Ties go to the larger shrinkage
    (the simpler model). With fewer than two clips per fold on average there is nothing
    to cross-validate and the middle of the grid is returned with no scores.
    """
    clips = np.unique(clip_index)
    folds = min(folds, len(clips) // 2)
    if folds < 2:
        return grid[len(grid) // 2], {}
    order = np.random.default_rng(seed).permutation(clips)
    scores: dict[float, float] = {}
    for shrinkage in grid:
        ranks = [
            _held_out_ranks(music, video, np.isin(clip_index, order[f::folds]), shrinkage)
            for f in range(folds)
        ]
        scores[float(shrinkage)] = float(np.concatenate(ranks).mean())
    best = min(scores, key=lambda s: (scores[s], -s))
    return best, scores


@torch.no_grad()
def linear_branches(model: TwoBranchNet, cca: CCAProjection) -> TwoBranchNet:
    """Set ``model``'s branches (no hidden layer, ``output_dim == cca.dim``, input
    normalisers fitted on the rows the CCA was fit on) to the CCA projection: one
    linear layer each, batch norm the identity. Returns ``model`` in eval mode."""
    for branch, directions in ((model.music, cca.music), (model.video, cca.video)):
        layers = [layer for layer in branch.mlp if isinstance(layer, torch.nn.Linear)]
        if len(layers) != 1 or layers[0].out_features != cca.dim:
            raise ValueError(f"need one linear layer of {cca.dim} outputs per branch")
        layers[0].weight.copy_(torch.as_tensor((directions * cca.correlations).T))
        layers[0].bias.zero_()
        norm = branch.batch_norm
        norm.running_mean.zero_()
        norm.running_var.fill_(1.0 - norm.eps)
        norm.weight.fill_(1.0)
        norm.bias.zero_()
    return model.eval()
