"""Reference implementations of the ranking costs, written from the formulas.

Plain Python loops in float64, one function per cost, with the notation of
docs/method.md §5: track ``m`` has ``Kc`` segments ``m_i``, query ``v`` has ``Kq``
segments ``v_j``. Nothing here is fast or clever on purpose: these functions
are the specification the Numba kernels in :mod:`ml.ranking.costs` are tested
against, so they compute squared distances directly (not through norms), keep
the full dynamic-programming matrices, and index exactly like the formulas.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = [
    "REFERENCE_COSTS",
    "best_trace",
    "centroid",
    "complete_linkage",
    "nw_dtw",
    "nw_dtw_matrix",
    "reference_distance",
    "single_linkage",
    "sw_dtw",
    "sw_dtw_matrix",
    "trace",
]

Vectors = Sequence[Sequence[float]]


def _dot(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(float(x) * float(y) for x, y in zip(a, b, strict=True))


def _sq_dist(a: Sequence[float], b: Sequence[float]) -> float:
    return sum((float(x) - float(y)) ** 2 for x, y in zip(a, b, strict=True))


def _mean(vectors: Vectors) -> list[float]:
    dim = len(vectors[0])
    return [sum(float(v[k]) for v in vectors) / len(vectors) for k in range(dim)]


def centroid(m: Vectors, v: Vectors) -> float:
    """Squared Euclidean distance between the means of the two sequences."""
    return _sq_dist(_mean(m), _mean(v))


def single_linkage(m: Vectors, v: Vectors) -> float:
    """Smallest squared distance over all segment pairs."""
    return min(_sq_dist(m_i, v_j) for m_i in m for v_j in v)


def complete_linkage(m: Vectors, v: Vectors) -> float:
    """Largest squared distance over all segment pairs."""
    return max(_sq_dist(m_i, v_j) for m_i in m for v_j in v)


def trace(m: Vectors, v: Vectors) -> float:
    """Sum over i < min(Kc, Kq) of |m_i - v_i|^2."""
    return sum(_sq_dist(m[i], v[i]) for i in range(min(len(m), len(v))))


def best_trace(m: Vectors, v: Vectors) -> float:
    """Minimum trace over all diagonal offsets of the shorter sequence along the longer."""
    shorter, longer = (m, v) if len(m) <= len(v) else (v, m)
    return min(trace(shorter, longer[offset:]) for offset in range(len(longer) - len(shorter) + 1))


def nw_dtw_matrix(m: Vectors, v: Vectors, indel: float = 0.05) -> list[list[float]]:
    """The Needleman-Wunsch matrix X, shape (Kc + 1, Kq + 1), on sim = m_i . v_j."""
    n_track, n_query = len(m), len(v)
    x = [[0.0] * (n_query + 1) for _ in range(n_track + 1)]
    for i in range(n_track + 1):
        x[i][0] = -indel * i
    for j in range(n_query + 1):
        x[0][j] = -indel * j
    for i in range(1, n_track + 1):
        for j in range(1, n_query + 1):
            x[i][j] = max(
                x[i - 1][j] - indel,
                x[i][j - 1] - indel,
                x[i - 1][j - 1] + _dot(m[i - 1], v[j - 1]),
            )
    return x


def nw_dtw(m: Vectors, v: Vectors, indel: float = 0.05) -> float:
    """Negated global alignment score -X[Kc, Kq]."""
    return -nw_dtw_matrix(m, v, indel)[len(m)][len(v)]


def sw_dtw_matrix(m: Vectors, v: Vectors, indel: float = 0.01) -> list[list[float]]:
    """The Smith-Waterman matrix X, shape (Kc + 1, Kq + 1): zero borders, floor at 0."""
    n_track, n_query = len(m), len(v)
    x = [[0.0] * (n_query + 1) for _ in range(n_track + 1)]
    for i in range(1, n_track + 1):
        for j in range(1, n_query + 1):
            x[i][j] = max(
                0.0,
                x[i - 1][j] - indel,
                x[i][j - 1] - indel,
                x[i - 1][j - 1] + _dot(m[i - 1], v[j - 1]),
            )
    return x


def sw_dtw(m: Vectors, v: Vectors, indel: float = 0.01) -> float:
    """Negated local alignment score -max_{i,j} X[i, j]."""
    return -max(max(row) for row in sw_dtw_matrix(m, v, indel))


def trace_mean(m: Vectors, v: Vectors) -> float:
    """Trace divided by its number of pairs, min(Kc, Kq)."""
    return trace(m, v) / min(len(m), len(v))


def best_trace_mean(m: Vectors, v: Vectors) -> float:
    """Best trace divided by min(Kc, Kq), the number of pairs of every diagonal."""
    return best_trace(m, v) / min(len(m), len(v))


#: Reference cost for every method name of :data:`ml.ranking.METHODS`.
REFERENCE_COSTS: dict[str, Callable[..., float]] = {
    "centroid": centroid,
    "single": single_linkage,
    "complete": complete_linkage,
    "trace": trace,
    "best_trace": best_trace,
    "nw_dtw": nw_dtw,
    "sw_dtw": sw_dtw,
    "trace_mean": trace_mean,
    "best_trace_mean": best_trace_mean,
}


def reference_distance(
    query: np.ndarray, track: np.ndarray, method: str, indel: float | None = None
) -> float:
    """Reference value of ``method`` between a query and a track, in float64.

    ``indel`` defaults to the cost's own default (0.05 NW, 0.01 SW).
    """
    m = np.asarray(track, dtype=np.float64).tolist()
    v = np.asarray(query, dtype=np.float64).tolist()
    cost = REFERENCE_COSTS[method]
    if method in ("nw_dtw", "sw_dtw") and indel is not None:
        return cost(m, v, indel)
    return cost(m, v)
