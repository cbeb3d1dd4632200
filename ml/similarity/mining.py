"""Ranked-list triplet mining for MuSimNet (docs/method.md §4), done offline.

For each anchor track t, the other tracks are ranked by decreasing ground-truth
similarity S(t, .). The positives are the ``n_positives`` (Np = 15) most similar tracks
(those with S > 0: a track with nothing in common is no positive). For each
(anchor, positive) pair, ``n_negatives`` (Nn = 250) negatives are taken among the tracks
ranked after the positive, by one of three strategies:

- ``"neighbours"``: the Nn tracks right after the positive (the hardest negatives);
- ``"uniform"``: independent draws, uniformly among the tracks after the positive;
- ``"distance"``: independent draws with probability proportional to S(t, n) (negatives
  that are still somewhat similar are drawn more often; the best strategy published).

"Ranked after the positive" means *strictly* less similar to the anchor: a track tied
with the positive gives a contradictory triplet (no order to learn), so it is never a
negative. With fewer than Nn candidates, ``neighbours`` takes them all and the sampled
strategies draw as many times as there are candidates. For ``"distance"``, when every
candidate has S = 0 the draw falls back to uniform (the limit of S + epsilon).

The result is an (M, 3) array of track indices (anchor, positive, negative), saved with
:func:`save_triplets` so that training reads a fixed, reproducible set.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ml.similarity.tags import SimilarityError, validate_similarity

__all__ = [
    "MINING_STRATEGIES",
    "MiningConfig",
    "load_triplets",
    "mine_triplets",
    "rank_by_similarity",
    "save_triplets",
]

MINING_STRATEGIES: tuple[str, ...] = ("neighbours", "uniform", "distance")


@dataclass(frozen=True)
class MiningConfig:
    """Parameters of ranked-list mining; the defaults are the published ones."""

    strategy: str = "distance"
    n_positives: int = 15
    n_negatives: int = 250
    seed: int = 0

    def __post_init__(self) -> None:
        if self.strategy not in MINING_STRATEGIES:
            raise SimilarityError(
                f"unknown strategy {self.strategy!r}; expected one of {MINING_STRATEGIES}"
            )
        if self.n_positives < 1 or self.n_negatives < 1:
            raise SimilarityError("n_positives and n_negatives must be >= 1")


def rank_by_similarity(similarity: np.ndarray) -> np.ndarray:
    """For each anchor row, the other tracks by decreasing similarity: shape (N, N - 1).

    Ties keep track order, so the ranking is deterministic.
    """
    similarity = validate_similarity(similarity)
    n = similarity.shape[0]
    order = np.argsort(-similarity, axis=1, kind="stable")
    not_self = order != np.arange(n)[:, None]
    return order[not_self].reshape(n, n - 1)


def _negatives_for(
    candidates: np.ndarray,
    weights: np.ndarray,
    strategy: str,
    n_negatives: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Pick negatives among ``candidates`` (already ranked, all less similar)."""
    if strategy == "neighbours":
        return candidates[:n_negatives]
    n_draws = min(n_negatives, candidates.size)
    if strategy == "distance" and weights.sum() > 0:
        return rng.choice(candidates, size=n_draws, replace=True, p=weights / weights.sum())
    return rng.choice(candidates, size=n_draws, replace=True)


def mine_triplets(
    similarity: np.ndarray,
    strategy: str = "distance",
    n_positives: int = 15,
    n_negatives: int = 250,
    seed: int | np.random.Generator = 0,
) -> np.ndarray:
    """Mine (anchor, positive, negative) index triplets from a similarity matrix S.

    Parameters
    ----------
    similarity : np.ndarray, shape (N, N)
        Ground-truth similarity (e.g. :func:`ml.similarity.tags.tag_similarity` or the
        user's own), non-negative; row t is read for anchor t.
    strategy : one of :data:`MINING_STRATEGIES`.
    n_positives, n_negatives : Np and Nn.
    seed : seed or generator for the sampled strategies. A :class:`MiningConfig`
        unpacks into these keywords: ``mine_triplets(S, **asdict(config))``.

    Returns
    -------
    np.ndarray of int64, shape (M, 3)
        Grouped by anchor, then by positive (most similar first).

    Raises
    ------
    SimilarityError
        If S is malformed or a parameter is out of range.
    """
    config = MiningConfig(strategy, n_positives, n_negatives)  # validates the parameters
    similarity = validate_similarity(similarity)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    ranked = rank_by_similarity(similarity)
    blocks: list[np.ndarray] = []
    for anchor, order in enumerate(ranked):
        scores = similarity[anchor, order]  # non-increasing along the ranked list
        for position in range(min(config.n_positives, order.size)):
            positive_score = scores[position]
            if positive_score <= 0:
                break  # the rest of the list is no more similar: no positives left
            # First rank strictly less similar than the positive (scores are sorted).
            start = int(np.searchsorted(-scores, -positive_score, side="right"))
            if start == order.size:
                continue
            negatives = _negatives_for(
                order[start:], scores[start:], config.strategy, config.n_negatives, rng
            )
            block = np.empty((negatives.size, 3), dtype=np.int64)
            block[:, 0], block[:, 1], block[:, 2] = anchor, order[position], negatives
            blocks.append(block)
    if not blocks:
        return np.empty((0, 3), dtype=np.int64)
    return np.concatenate(blocks)


def save_triplets(path: str | Path, triplets: np.ndarray, config: MiningConfig) -> Path:
    """Store mined triplets and the configuration that produced them (``.npz``)."""
    triplets = np.asarray(triplets)
    if triplets.ndim != 2 or triplets.shape[1] != 3:
        raise SimilarityError(f"triplets must be (M, 3), got {triplets.shape}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, triplets=triplets.astype(np.int64), config=json.dumps(asdict(config)))
    return path


def load_triplets(path: str | Path) -> tuple[np.ndarray, MiningConfig]:
    """Read triplets written by :func:`save_triplets`."""
    with np.load(Path(path), allow_pickle=False) as data:
        return data["triplets"], MiningConfig(**json.loads(str(data["config"])))
