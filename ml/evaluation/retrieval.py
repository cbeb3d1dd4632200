"""Cross-modal retrieval metrics: one correct answer per query (docs/method.md §6).

Each test clip's video is a query; its own music is the single correct answer among
the C catalog tracks. The protocol reports Recall@k for k in {1, 10, 25} and the mean
rank of the answer with a 95% confidence interval.

All functions here are pure and work on plain arrays, in the spirit of ``mir_eval``:
:func:`~ml.metrics.ranks.answer_ranks` turns a distance matrix into the rank of each
correct answer (the project's one rank definition, with its tie rule; re-exported
here for the protocol), and the metric functions summarise those ranks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from ml.metrics.errors import EvaluationError
from ml.metrics.ranks import answer_ranks

__all__ = [
    "DEFAULT_KS",
    "EvaluationError",
    "RetrievalScores",
    "answer_ranks",
    "chance_scores",
    "evaluate_ranks",
    "mean_rank",
    "recall_at_k",
]

DEFAULT_KS: tuple[int, ...] = (1, 10, 25)


@dataclass(frozen=True)
class RetrievalScores:
    """Summary of the answer ranks of a set of queries.

    ``recall`` maps k to the share of queries whose answer is in the top k (0..1).
    ``mean_rank`` is 1-based; ``rank_ci95`` is the (low, high) 95% confidence interval
    of the mean rank (Student t), and ``n_queries`` / ``n_candidates`` say how many
    queries were ranked against how many tracks (chance mean rank is
    ``(n_candidates + 1) / 2``).
    """

    recall: dict[int, float]
    mean_rank: float
    rank_ci95: tuple[float, float]
    n_queries: int
    n_candidates: int

    def to_dict(self) -> dict:
        """A JSON-ready dictionary (recall keys become strings ``"R@k"``)."""
        out = asdict(self)
        out["recall"] = {f"R@{k}": v for k, v in self.recall.items()}
        out["rank_ci95"] = list(self.rank_ci95)
        return out


def _check_ranks(ranks: np.ndarray) -> np.ndarray:
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.ndim != 1 or ranks.size == 0:
        raise EvaluationError("ranks must be a non-empty 1-D array")
    if np.isnan(ranks).any() or ranks.min() < 1:
        raise EvaluationError("ranks must be numbers >= 1")
    return ranks


def recall_at_k(ranks: np.ndarray, k: int) -> float:
    """Share of queries whose correct answer is ranked within the top ``k`` (0..1)."""
    if k < 1:
        raise EvaluationError(f"k must be >= 1, got {k}")
    ranks = _check_ranks(ranks)
    return float(np.mean(ranks <= k))


def mean_rank(ranks: np.ndarray, confidence: float = 0.95) -> tuple[float, tuple[float, float]]:
    """Mean rank and its two-sided confidence interval (Student t on the sample mean).

    With a single query the interval is degenerate, ``(mean, mean)``.
    """
    if not 0.0 < confidence < 1.0:
        raise EvaluationError(f"confidence must be in (0, 1), got {confidence}")
    ranks = _check_ranks(ranks)
    mean = float(ranks.mean())
    if ranks.size < 2:
        return mean, (mean, mean)
    sem = ranks.std(ddof=1) / np.sqrt(ranks.size)
    half_width = float(stats.t.ppf(0.5 + confidence / 2.0, df=ranks.size - 1) * sem)
    return mean, (mean - half_width, mean + half_width)


def evaluate_ranks(
    ranks: np.ndarray, n_candidates: int, ks: tuple[int, ...] = DEFAULT_KS
) -> RetrievalScores:
    """All retrieval metrics of docs/method.md §6 from the answer ranks."""
    ranks = _check_ranks(ranks)
    if ranks.max() > n_candidates:
        raise EvaluationError("a rank exceeds the number of candidates")
    mean, ci = mean_rank(ranks)
    return RetrievalScores(
        recall={k: recall_at_k(ranks, k) for k in ks},
        mean_rank=mean,
        rank_ci95=ci,
        n_queries=int(ranks.size),
        n_candidates=int(n_candidates),
    )


def chance_scores(n_candidates: int, ks: tuple[int, ...] = DEFAULT_KS) -> dict[str, float]:
    """What a random ranking scores in expectation: R@k = k / C, mean rank = (C + 1) / 2."""
    if n_candidates < 1:
        raise EvaluationError("n_candidates must be >= 1")
    out = {f"R@{k}": min(k, n_candidates) / n_candidates for k in ks}
    out["mean_rank"] = (n_candidates + 1) / 2.0
    return out
