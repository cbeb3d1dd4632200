"""Alignment details for the top results: which track segment lies under which shot.

The batched kernel only returns distances. For the handful of tracks that are
shown to a user, :func:`align` recomputes the chosen cost on the small
``Kc x Kq`` matrices, in float64, and keeps what the distance alone hides:

* ``trace``: the diagonal pairs ``(i, i)``;
* ``best_trace``: the winning diagonal, as pairs and as a signed ``offset``;
* ``nw_dtw`` / ``sw_dtw``: the traceback of the dynamic programme, as the
  matched ``(track_segment, query_segment)`` pairs (steps through a gap leave a
  segment unpaired); for ``sw_dtw`` the span of the local match is where the
  excerpt starts and ends;
* ``single`` / ``complete``: the closest / farthest pair.

Ties are broken the same way everywhere so results are reproducible: the first
offset, the first cell in row-major order (track index, then query index), and
in a traceback a match before a gap in the track before a gap in the query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit

from .costs import method_code, resolve_indel
from .packed import PackedSegments, check_rows, check_sequence

__all__ = ["Alignment", "align", "align_candidates"]


@dataclass(frozen=True)
class Alignment:
    """How a track and a query line up under one cost.

    Attributes
    ----------
    method : str
        The cost.
    distance : float
        The cost's value (float64; equal to :func:`~ml.ranking.batch_distances`
        up to float32 rounding).
    pairs : np.ndarray, shape (P, 2), int64
        ``(track_segment, query_segment)`` pairs, increasing in both columns.
        Empty for ``centroid`` and for a ``sw_dtw`` match of score 0.
    offset : int or None
        ``trace`` / ``best_trace`` only: the track segment aligned with query
        segment 0 (``track_index - query_index`` along the diagonal; negative
        when the track starts inside the query).
    track_span, query_span : tuple of int or None
        Half-open segment ranges the cost used: the whole sequences for
        ``centroid`` and ``nw_dtw``, the covered diagonal for the traces, the
        local match for ``sw_dtw`` (None when it is empty).
    """

    method: str
    distance: float
    pairs: np.ndarray
    offset: int | None
    track_span: tuple[int, int] | None
    query_span: tuple[int, int] | None

    @property
    def start(self) -> tuple[int, int] | None:
        """First aligned ``(track_segment, query_segment)``, or None."""
        return (int(self.pairs[0, 0]), int(self.pairs[0, 1])) if len(self.pairs) else None

    @property
    def end(self) -> tuple[int, int] | None:
        """Last aligned ``(track_segment, query_segment)`` (inclusive), or None."""
        return (int(self.pairs[-1, 0]), int(self.pairs[-1, 1])) if len(self.pairs) else None


# --------------------------------------------------------------------------------------
# Dynamic programmes with traceback (float64, full matrices: they are tiny).
# --------------------------------------------------------------------------------------
@njit(cache=True)
def _nw_traceback(sims: np.ndarray, indel: float) -> tuple[float, np.ndarray]:
    n_track, n_query = sims.shape
    x = np.empty((n_track + 1, n_query + 1))
    for i in range(n_track + 1):
        x[i, 0] = -indel * i
    for j in range(n_query + 1):
        x[0, j] = -indel * j
    for i in range(1, n_track + 1):
        for j in range(1, n_query + 1):
            x[i, j] = max(
                x[i - 1, j] - indel, x[i, j - 1] - indel, x[i - 1, j - 1] + sims[i - 1, j - 1]
            )
    pairs = np.empty((min(n_track, n_query), 2), dtype=np.int64)
    n_pairs = 0
    i, j = n_track, n_query
    while i > 0 or j > 0:
        # Each test re-evaluates the exact expression the max() chose from.
        if i > 0 and j > 0 and x[i, j] == x[i - 1, j - 1] + sims[i - 1, j - 1]:
            pairs[n_pairs, 0], pairs[n_pairs, 1] = i - 1, j - 1
            n_pairs += 1
            i, j = i - 1, j - 1
        elif j == 0 or (i > 0 and x[i, j] == x[i - 1, j] - indel):
            i -= 1  # track segment i - 1 faces a gap
        else:
            j -= 1  # query segment j - 1 faces a gap
    return x[n_track, n_query], pairs[:n_pairs][::-1].copy()


@njit(cache=True)
def _sw_traceback(sims: np.ndarray, indel: float) -> tuple[float, np.ndarray]:
    n_track, n_query = sims.shape
    x = np.zeros((n_track + 1, n_query + 1))
    best, best_i, best_j = 0.0, 0, 0
    for i in range(1, n_track + 1):
        for j in range(1, n_query + 1):
            x[i, j] = max(
                0.0,
                x[i - 1, j] - indel,
                x[i, j - 1] - indel,
                x[i - 1, j - 1] + sims[i - 1, j - 1],
            )
            if x[i, j] > best:  # strict: the first maximum in row-major order wins
                best, best_i, best_j = x[i, j], i, j
    pairs = np.empty((min(n_track, n_query), 2), dtype=np.int64)
    n_pairs = 0
    i, j = best_i, best_j
    while x[i, j] > 0.0:  # a positive cell always comes from one of the three moves
        if x[i, j] == x[i - 1, j - 1] + sims[i - 1, j - 1]:
            pairs[n_pairs, 0], pairs[n_pairs, 1] = i - 1, j - 1
            n_pairs += 1
            i, j = i - 1, j - 1
        elif x[i, j] == x[i - 1, j] - indel:
            i -= 1
        else:
            j -= 1
    return best, pairs[:n_pairs][::-1].copy()


def _diagonal(n_track: int, n_query: int, offset: int) -> np.ndarray:
    """Pairs of the diagonal ``track = query + offset`` inside both sequences."""
    query_index = np.arange(max(0, -offset), min(n_query, n_track - offset))
    return np.stack([query_index + offset, query_index], axis=1).astype(np.int64)


def _span(pairs: np.ndarray, column: int) -> tuple[int, int] | None:
    if len(pairs) == 0:
        return None
    return int(pairs[0, column]), int(pairs[-1, column]) + 1


def _from_pairs(method: str, value: float, pairs: np.ndarray, offset: int | None) -> Alignment:
    return Alignment(method, float(value), pairs, offset, _span(pairs, 0), _span(pairs, 1))


# --------------------------------------------------------------------------------------
# Public API.
# --------------------------------------------------------------------------------------
def align(
    query: np.ndarray, track: np.ndarray, method: str, *, indel: float | None = None
) -> Alignment:
    """Align one query ``(Kq, d)`` with one track ``(Kc, d)`` under ``method``.

    Raises
    ------
    UnknownMethodError, DimensionMismatchError, EmptySequenceError,
    NonFiniteEmbeddingError, InvalidIndelError
    """
    method_code(method)
    gap = resolve_indel(method, indel)
    track = check_sequence(track, "track").astype(np.float64)
    query = check_sequence(query, "query", track.shape[1]).astype(np.float64)
    n_track, n_query = len(track), len(query)

    if method == "centroid":
        value = float(np.sum((track.mean(axis=0) - query.mean(axis=0)) ** 2))
        return Alignment(
            method, value, np.zeros((0, 2), np.int64), None, (0, n_track), (0, n_query)
        )
    if method in ("nw_dtw", "sw_dtw"):
        sims = track @ query.T
        if method == "nw_dtw":
            score, pairs = _nw_traceback(sims, gap)
            return Alignment(method, -float(score), pairs, None, (0, n_track), (0, n_query))
        score, pairs = _sw_traceback(sims, gap)
        return _from_pairs(method, -score, pairs, None)

    sq_dists = np.sum((track[:, None, :] - query[None, :, :]) ** 2, axis=-1)
    if method in ("single", "complete"):
        flat = np.argmin(sq_dists) if method == "single" else np.argmax(sq_dists)
        pair = np.array([np.unravel_index(flat, sq_dists.shape)], dtype=np.int64)
        return _from_pairs(method, sq_dists.flat[flat], pair, None)

    if method in ("trace", "trace_mean"):
        offsets = [0]
    elif n_track >= n_query:  # best_trace: the query slides along the track
        offsets = list(range(n_track - n_query + 1))
    else:  # best_trace: the track slides along the query
        offsets = list(range(0, -(n_query - n_track) - 1, -1))
    traces = [sq_dists[tuple(_diagonal(n_track, n_query, o).T)].sum() for o in offsets]
    if method.endswith("_mean"):  # every diagonal has min(Kc, Kq) pairs
        traces = [t / min(n_track, n_query) for t in traces]
    best = int(np.argmin(traces))
    return _from_pairs(
        method, traces[best], _diagonal(n_track, n_query, offsets[best]), offsets[best]
    )


def align_candidates(
    query: np.ndarray,
    packed: PackedSegments,
    rows: np.ndarray | Sequence[int],
    method: str,
    *,
    indel: float | None = None,
) -> list[Alignment]:
    """:func:`align` for each track ``rows`` of a packed catalog (the top results)."""
    rows = check_rows(rows, packed.n_tracks)
    return [
        align(query, packed.track(int(row)).astype(np.float32), method, indel=indel) for row in rows
    ]
