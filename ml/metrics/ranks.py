"""The rank of a query's correct answer among the candidates of a distance matrix.

This is the one definition of rank in the project: training's validation (the mean
rank early stopping watches, :mod:`ml.training.metrics`) and the evaluation protocol
(the reported Recall@k and mean rank, :mod:`ml.evaluation.retrieval`) both call
:func:`answer_ranks`.

Tie rule: *mid-rank*. A candidate at exactly the answer's distance counts as half
ahead of it, so ``rank = 1 + (# strictly closer) + (# tied others) / 2``. That is the
expectation of breaking ties at random: a model that gives every candidate the same
distance scores chance, ``(C + 1) / 2``, never a perfect rank 1.
"""

from __future__ import annotations

import numpy as np

from ml.metrics.errors import EvaluationError

__all__ = ["answer_ranks"]


def answer_ranks(distances: np.ndarray, answers: np.ndarray | None = None) -> np.ndarray:
    """Rank (1-based) of each query's correct answer, lower distance ranking first.

    Parameters
    ----------
    distances : np.ndarray, shape (n_queries, n_candidates)
        ``distances[q, c]`` is the cost of candidate ``c`` for query ``q`` (any unit;
        only the order within a row matters).
    answers : np.ndarray of int, shape (n_queries,), optional
        Index of the correct candidate of each query. Defaults to ``arange(n_queries)``
        (query ``q``'s answer is candidate ``q``, the usual layout of a test set).
        A block of rows ``start:stop`` of a larger matrix passes
        ``arange(start, stop)``.

    Returns
    -------
    np.ndarray of float64, shape (n_queries,)
        Ranks in ``[1, n_candidates]``, ties by mid-rank (see the module docstring):
        a half-integer when an even number of other candidates tie with the answer.

    Raises
    ------
    EvaluationError
        If ``distances`` is not 2-D, holds NaN, or an answer index is out of range.
    """
    distances = np.asarray(distances, dtype=np.float64)
    if distances.ndim != 2 or distances.shape[1] == 0:
        raise EvaluationError(f"distances must be (n_queries, n_candidates), got {distances.shape}")
    if np.isnan(distances).any():
        raise EvaluationError("distances contain NaN")
    n_queries, n_candidates = distances.shape
    if answers is None:
        if n_queries > n_candidates:
            raise EvaluationError("default answers need n_queries <= n_candidates")
        answers = np.arange(n_queries)
    answers = np.asarray(answers)
    if answers.shape != (n_queries,) or not np.issubdtype(answers.dtype, np.integer):
        raise EvaluationError(f"answers must be {n_queries} integers, got {answers.shape}")
    if answers.size and (answers.min() < 0 or answers.max() >= n_candidates):
        raise EvaluationError("answer index out of range")

    answer_distance = distances[np.arange(n_queries), answers][:, None]
    n_better = (distances < answer_distance).sum(axis=1)
    # The answer ties with itself: subtract it before halving the ties.
    n_tied = (distances == answer_distance).sum(axis=1) - 1
    return 1.0 + n_better + 0.5 * n_tied
