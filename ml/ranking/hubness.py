"""Hubness: measuring it, and correcting it with a bank of reference queries.

In a high-dimensional embedding space some catalog items ("hubs") are near to most
queries and come first for many of them whatever the query, while others are never
found ("anti-hubs"). With segment sequences a cost can add its own bias: a track
with few segments pays fewer terms of a summed cost.

**Measure.** The k-occurrence ``N_k(t)`` of a track is how many queries have it in
their top k; its skewness (Radovanovic et al., JMLR 2010) is 0 for a fair
retrieval and grows with hubness. :func:`top1_share_ratio` tells how much more than
its fair share the most frequent top-1 track gets.

**Correct: CSLS** (cross-domain similarity local scaling, Conneau et al., ICLR 2018,
"Word translation without parallel data"). With a bank of reference queries (the
training clips' videos, embedded once), each track ``t`` gets its *hub radius*
``r(t)``: the mean of its ``k`` smallest distances to the bank queries. A track close
to many queries has a small radius. The corrected distance of query ``q`` to ``t`` is
``2 d(q, t) - r(t) - r(q)``; ``r(q)`` is the same for every track of one query, so
ranking by ``d(q, t) - r(t) / 2`` is the same ranking. Any cost of
:mod:`ml.ranking.costs` works: the radius is in that cost's own units.

**Readable score.** :func:`bank_percentile` places a distance among the distances of
the bank queries to the same track: 100 means the query fits the track better than
every reference video, 50 as well as the median one.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = [
    "DEFAULT_CSLS_K",
    "bank_percentile",
    "csls_distances",
    "hub_radius",
    "hubness_skewness",
    "k_occurrence",
    "top1_share_ratio",
]

#: Neighbourhood size of the hub radius (CSLS's own default is 10).
DEFAULT_CSLS_K = 10


def _matrix(distances: np.ndarray, name: str) -> np.ndarray:
    d = np.asarray(distances, dtype=np.float64)
    if d.ndim != 2 or d.shape[0] == 0 or d.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array, got shape {d.shape}")
    if not np.all(np.isfinite(d)):
        raise ValueError(f"{name} must be finite")
    return d


def k_occurrence(distances: np.ndarray, k: int) -> np.ndarray:
    """``N_k``: for each track, the number of queries that rank it in their top ``k``.

    Parameters
    ----------
    distances : np.ndarray, shape (n_queries, n_tracks)
        Lower is better. Ties are broken by track order (a stable sort).
    k : int
        ``1 <= k <= n_tracks``.

    Returns
    -------
    np.ndarray, shape (n_tracks,), int64
        Sums to ``n_queries * k``.
    """
    d = _matrix(distances, "distances")
    if not 1 <= k <= d.shape[1]:
        raise ValueError(f"k must be in [1, {d.shape[1]}], got {k}")
    top = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.bincount(top.ravel(), minlength=d.shape[1]).astype(np.int64)


def hubness_skewness(counts: np.ndarray) -> float:
    """Skewness of a k-occurrence distribution (0 when every track is found equally
    often; 0.0 as well when all counts are equal, where skewness is undefined)."""
    n = np.asarray(counts, dtype=np.float64)
    if n.ndim != 1 or n.size < 3:
        raise ValueError("need the k-occurrence of at least 3 tracks")
    if np.all(n == n[0]):
        return 0.0
    return float(stats.skew(n, bias=True))


def top1_share_ratio(distances: np.ndarray) -> float:
    """How many times its fair share of top-1 places the most frequent top-1 track
    gets: ``max N_1 / (n_queries / n_tracks)``; 1.0 is perfectly fair."""
    d = _matrix(distances, "distances")
    counts = k_occurrence(d, 1)
    return float(counts.max() / (d.shape[0] / d.shape[1]))


def hub_radius(bank_distances: np.ndarray, k: int = DEFAULT_CSLS_K) -> np.ndarray:
    """``r(t)``: mean of each track's ``k`` smallest distances to the bank queries.

    Parameters
    ----------
    bank_distances : np.ndarray, shape (n_bank, n_tracks)
        Distances of every bank query to every track, under the cost being corrected.
    k : int
        Neighbourhood size; capped at ``n_bank``.

    Returns
    -------
    np.ndarray, shape (n_tracks,), float64
    """
    d = _matrix(bank_distances, "bank_distances")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    k = min(k, d.shape[0])
    nearest = np.partition(d, k - 1, axis=0)[:k] if k < d.shape[0] else d
    return nearest.mean(axis=0)


def csls_distances(distances: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """CSLS-corrected distances ``d(q, t) - r(t) / 2`` (the query's own radius, equal
    for every track of one query, is left out: it changes no ranking).

    ``distances`` is ``(n_tracks,)`` for one query or ``(n_queries, n_tracks)``;
    ``radius`` is ``(n_tracks,)`` from :func:`hub_radius`.
    """
    d = np.asarray(distances, dtype=np.float64)
    r = np.asarray(radius, dtype=np.float64)
    if r.ndim != 1 or d.shape[-1] != r.shape[0]:
        raise ValueError(f"radius must have one value per track: {r.shape} against {d.shape}")
    return d - 0.5 * r


def bank_percentile(distances: np.ndarray, bank_distances: np.ndarray) -> np.ndarray:
    """A 0-100 match score: the share of bank queries that are farther from the track.

    Parameters
    ----------
    distances : np.ndarray, shape (n_tracks,)
        One query's distance to each track.
    bank_distances : np.ndarray, shape (n_bank, n_tracks)
        The bank queries' distances to the same tracks, under the same cost.

    Returns
    -------
    np.ndarray, shape (n_tracks,), float64
        ``100 * (#bank farther + 0.5 #bank equal) / n_bank``: 100 fits better than every
        reference video, 50 like the median one, 0 worse than all of them.
    """
    b = _matrix(bank_distances, "bank_distances")
    d = np.asarray(distances, dtype=np.float64)
    if d.shape != (b.shape[1],):
        raise ValueError(f"distances must be ({b.shape[1]},), got {d.shape}")
    farther = (b > d[None, :]).sum(axis=0)
    equal = (b == d[None, :]).sum(axis=0)
    return 100.0 * (farther + 0.5 * equal) / b.shape[0]
