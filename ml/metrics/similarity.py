"""Music-similarity metrics at a cut-off k (docs/method.md §6).

Every test track is a query in turn. Its relevant tracks are its ``n_relevant`` (5)
most similar tracks under the ground-truth similarity S, in order; the system's list
(the other tracks sorted by embedding distance) is cut at ``k`` (20). Four metrics:

- MAP@k: mean over queries of the average precision at k, normalised by
  ``min(n_relevant, k)``;
- Recall@k: share of the relevant tracks found in the top k;
- RR@k: reciprocal rank of the first relevant track, 0 when none is in the top k;
- nDCG@k: linear gains ``n_relevant, ..., 1`` (5, 4, 3, 2, 1) for the relevant tracks
  from most to least similar, discount ``log2(i + 1)`` at 1-based position i,
  normalised by the ideal ordering.

The per-query functions take a ranked list of track ids and the ordered list of
relevant ids; ``evaluate_similarity`` does the whole protocol from a distance matrix
and S.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ml.metrics.errors import EvaluationError

__all__ = [
    "SimilarityScores",
    "average_precision_at_k",
    "evaluate_similarity",
    "ndcg_at_k",
    "ranked_lists",
    "recall_at_k",
    "reciprocal_rank_at_k",
    "relevant_lists",
]


@dataclass(frozen=True)
class SimilarityScores:
    """Means over queries of the four similarity metrics, each in 0..1."""

    map_at_k: float
    recall_at_k: float
    rr_at_k: float
    ndcg_at_k: float
    k: int
    n_relevant: int
    n_queries: int

    def to_dict(self) -> dict:
        return asdict(self)


def _check_list_args(ranked: Sequence[int], relevant: Sequence[int], k: int) -> None:
    if k < 1:
        raise EvaluationError(f"k must be >= 1, got {k}")
    if len(relevant) == 0:
        raise EvaluationError("relevant must hold at least one item")
    if len(set(relevant)) != len(relevant):
        raise EvaluationError("relevant items must be distinct")
    if len(set(ranked)) != len(ranked):
        raise EvaluationError("ranked items must be distinct")


def average_precision_at_k(ranked: Sequence[int], relevant: Sequence[int], k: int = 20) -> float:
    """Average precision of ``ranked[:k]``: the mean, over the relevant items, of the
    precision at the position where each is found (0 for those not found in the top k),
    i.e. ``sum_i P@i * rel_i / min(len(relevant), k)``."""
    _check_list_args(ranked, relevant, k)
    relevant_set = set(relevant)
    hits, total = 0, 0.0
    for position, item in enumerate(ranked[:k], start=1):
        if item in relevant_set:
            hits += 1
            total += hits / position
    return total / min(len(relevant), k)


def recall_at_k(ranked: Sequence[int], relevant: Sequence[int], k: int = 20) -> float:
    """Share of the relevant items that appear in ``ranked[:k]``."""
    _check_list_args(ranked, relevant, k)
    return len(set(ranked[:k]) & set(relevant)) / len(relevant)


def reciprocal_rank_at_k(ranked: Sequence[int], relevant: Sequence[int], k: int = 20) -> float:
    """``1 / position`` of the first relevant item in ``ranked[:k]``; 0 if there is none."""
    _check_list_args(ranked, relevant, k)
    relevant_set = set(relevant)
    for position, item in enumerate(ranked[:k], start=1):
        if item in relevant_set:
            return 1.0 / position
    return 0.0


def ndcg_at_k(ranked: Sequence[int], relevant: Sequence[int], k: int = 20) -> float:
    """Normalised discounted cumulative gain with linear gains.

    ``relevant`` is ordered from most to least similar; its j-th item (0-based) has gain
    ``len(relevant) - j`` (5, 4, 3, 2, 1 for five). The item at 1-based position i of the
    ranked list is discounted by ``log2(i + 1)``. The ideal DCG places the relevant items
    in their own order at the top.
    """
    _check_list_args(ranked, relevant, k)
    n = len(relevant)
    gain = {item: float(n - j) for j, item in enumerate(relevant)}
    dcg = sum(
        gain.get(item, 0.0) / np.log2(position + 1)
        for position, item in enumerate(ranked[:k], start=1)
    )
    ideal = sum((n - j) / np.log2(j + 2) for j in range(min(n, k)))
    return float(dcg / ideal)


def ranked_lists(distances: np.ndarray) -> np.ndarray:
    """For each query row, the other tracks ordered by increasing distance.

    ``distances`` is a square (N, N) matrix between the same N tracks; the query itself
    is left out, so the result has shape (N, N - 1). Ties keep track order.
    """
    distances = np.asarray(distances, dtype=np.float64)
    if distances.ndim != 2 or distances.shape[0] != distances.shape[1]:
        raise EvaluationError(f"distances must be square, got {distances.shape}")
    if np.isnan(distances).any():
        raise EvaluationError("distances contain NaN")
    n = distances.shape[0]
    order = np.argsort(distances, axis=1, kind="stable")
    not_self = order != np.arange(n)[:, None]
    return order[not_self].reshape(n, n - 1)


def relevant_lists(similarity: np.ndarray, n_relevant: int = 5) -> np.ndarray:
    """Each track's ``n_relevant`` most similar other tracks under S, most similar first.

    Ties in S keep track order, so the ground truth is deterministic.
    """
    similarity = np.asarray(similarity, dtype=np.float64)
    if similarity.ndim != 2 or similarity.shape[0] != similarity.shape[1]:
        raise EvaluationError(f"similarity must be square, got {similarity.shape}")
    if n_relevant < 1 or n_relevant > similarity.shape[0] - 1:
        raise EvaluationError(
            f"n_relevant must be in [1, {similarity.shape[0] - 1}], got {n_relevant}"
        )
    return ranked_lists(-similarity)[:, :n_relevant]


def evaluate_similarity(
    distances: np.ndarray, similarity: np.ndarray, k: int = 20, n_relevant: int = 5
) -> SimilarityScores:
    """The four metrics of docs/method.md §6 for a system's distance matrix against S.

    Parameters
    ----------
    distances : np.ndarray, shape (N, N)
        System distances between the test tracks (e.g. squared Euclidean between their
        embeddings); lower means more similar.
    similarity : np.ndarray, shape (N, N)
        Ground-truth similarity S between the same tracks; higher means more similar.
    """
    distances = np.asarray(distances)
    similarity = np.asarray(similarity)
    if distances.shape != similarity.shape:
        raise EvaluationError(
            f"distances {distances.shape} and similarity {similarity.shape} differ in shape"
        )
    ranked = ranked_lists(distances)
    relevant = relevant_lists(similarity, n_relevant)
    per_query = np.array(
        [
            (
                average_precision_at_k(r, g, k),
                recall_at_k(r, g, k),
                reciprocal_rank_at_k(r, g, k),
                ndcg_at_k(r, g, k),
            )
            for r, g in zip(ranked.tolist(), relevant.tolist())
        ]
    )
    means = per_query.mean(axis=0)
    return SimilarityScores(
        map_at_k=float(means[0]),
        recall_at_k=float(means[1]),
        rr_at_k=float(means[2]),
        ndcg_at_k=float(means[3]),
        k=k,
        n_relevant=n_relevant,
        n_queries=int(distances.shape[0]),
    )
