"""The ranking costs of docs/method.md §5 and two length-normalised variants, batched in Numba.

A query is a ``(Kq, d)`` sequence of segment embeddings (video branch); a catalog
track is a ``(Kc, d)`` sequence (music branch). ``m_i`` are track segments,
``v_j`` query segments, ``sim(i, j) = m_i . v_j``, and every cost is a distance:
lower is better.

========== ==============================================================
centroid   ``|mean_i m_i - mean_j v_j|^2``
single     ``min_{i,j} |m_i - v_j|^2``
complete   ``max_{i,j} |m_i - v_j|^2``
trace      ``sum_{i < min(Kc, Kq)} |m_i - v_i|^2``
best_trace minimum trace over every diagonal offset of the shorter sequence
           along the longer one
nw_dtw     ``-X[Kc, Kq]`` with ``X[i, 0] = -indel i``, ``X[0, j] = -indel j``,
           ``X[i, j] = max(X[i-1, j] - indel, X[i, j-1] - indel,
           X[i-1, j-1] + sim(i, j))``; indel 0.05
sw_dtw     ``-max_{i,j} X[i, j]`` with the same recursion floored at 0 and
           zero borders; indel 0.01
trace_mean trace divided by its number of pairs ``min(Kc, Kq)``
best_trace_mean
           best trace divided by ``min(Kc, Kq)`` (every diagonal has that many pairs)
========== ==============================================================

The two ``_mean`` variants are not in the published system: a summed trace pays one
term per pair, so a track with few segments pays few terms and comes first for many
queries (a hub); the mean per pair removes that advantage. All nine costs are
symmetric in (track, query).

How the kernel is fast: one query is ranked against many candidates of a
:class:`~ml.ranking.packed.PackedSegments` catalog, in parallel over candidates
(``prange``), with no Python object touched per candidate. For each candidate
the segment rows are read once, contiguously, and its small ``Kc x Kq``
similarity matrix is computed by a register-blocked micro-kernel (the query
stays in L1, the matrix is a few hundred bytes), then the dynamic programme
runs on that matrix. Squared distances come from the same dot products via
``|m - v|^2 = |m|^2 + |v|^2 - 2 m.v`` with precomputed norms; trace and best
trace compute only the diagonals they need. Everything is float32; float16
storage is widened row by row inside the kernel.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numba
import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic, overload

from .errors import InvalidIndelError, UnknownMethodError
from .packed import PackedSegments, check_rows, check_sequence

__all__ = [
    "DEFAULT_INDELS",
    "METHODS",
    "PARALLEL_MIN_CANDIDATES",
    "SYMMETRIC_METHODS",
    "batch_distances",
    "distance",
    "distance_matrix",
    "rerank",
    "resolve_indel",
    "warm_up",
]

#: Cost names: those of docs/method.md §5 in its order, then the length-normalised variants.
METHODS: tuple[str, ...] = (
    "centroid",
    "single",
    "complete",
    "trace",
    "best_trace",
    "nw_dtw",
    "sw_dtw",
    "trace_mean",
    "best_trace_mean",
)

#: Gap penalties of the published system (Needleman-Wunsch and Smith-Waterman DTW).
DEFAULT_INDELS: dict[str, float] = {"nw_dtw": 0.05, "sw_dtw": 0.01}

#: Costs whose value does not change when track and query are swapped (all of them).
SYMMETRIC_METHODS: tuple[str, ...] = METHODS

#: Below this many candidates the kernel runs on the calling thread: waking the
#: thread pool costs more than scoring a few tracks.
PARALLEL_MIN_CANDIDATES = 32

# One parallel kernel at a time per process: each launch already occupies every
# Numba thread, and Numba's fallback "workqueue" threading layer aborts the process
# on concurrent launches (a web server calls from several threads).
_PARALLEL_LOCK = threading.Lock()

_METHOD_CODE = {name: code for code, name in enumerate(METHODS)}
(
    _CENTROID,
    _SINGLE,
    _COMPLETE,
    _TRACE,
    _BEST_TRACE,
    _NW_DTW,
    _SW_DTW,
    _TRACE_MEAN,
    _BEST_TRACE_MEAN,
) = range(len(METHODS))

_ZERO = np.float32(0.0)
_TWO = np.float32(2.0)
_INF = np.float32(np.inf)


# --------------------------------------------------------------------------------------
# Row access: float32 storage is read in place, float16 storage (as uint16 bits) widened.
# --------------------------------------------------------------------------------------
def _widen_row(vectors: np.ndarray, row: int, buffer: np.ndarray) -> np.ndarray:
    """Row ``row`` of ``vectors`` as float32 (Python reference of the Numba overload)."""
    if vectors.dtype == np.uint16:
        buffer[:] = vectors[row].view(np.float16)
        return buffer
    return vectors[row]


@intrinsic
def _half_to_float32(typingctx, bits):
    """float16 bits (uint16) -> float32, as one LLVM ``fpext half -> float``.

    Numba has no CPU float16 type, but LLVM does: loops of this intrinsic
    vectorise to the CPU's own conversion instruction (F16C ``vcvtph2ps``).
    """
    if bits != types.uint16:
        return None

    def codegen(context, builder, signature, args):
        return builder.fpext(builder.bitcast(args[0], ir.HalfType()), ir.FloatType())

    return types.float32(types.uint16), codegen


@overload(_widen_row, jit_options={"cache": True})
def _widen_row_numba(vectors, row, buffer):
    if vectors.dtype == types.float32:

        def read_in_place(vectors, row, buffer):
            return vectors[row]

        return read_in_place

    if vectors.dtype == types.uint16:

        def widen_half(vectors, row, buffer):
            half = vectors[row]
            for k in range(half.size):
                buffer[k] = _half_to_float32(half[k])
            return buffer

        return widen_half
    return None


# --------------------------------------------------------------------------------------
# Small dense helpers.
# --------------------------------------------------------------------------------------
@njit(cache=True, fastmath={"reassoc", "contract"})
def _dot(a: np.ndarray, b: np.ndarray) -> np.float32:
    # Reassociation lets LLVM split the reduction into SIMD lanes; contraction gives FMAs.
    acc = _ZERO
    for k in range(a.size):
        acc += a[k] * b[k]
    return acc


@njit(cache=True, fastmath={"reassoc", "contract"})
def _similarities(query, vectors, start, stop, buffer_a, buffer_b, sims):
    """``sims[i, j] = m_i . v_j`` for track rows ``start..stop`` (into ``sims[:Kc]``).

    A 2 x 4 register block: two track rows and four query rows share every load
    (0.75 loads per multiply-add instead of the 2 of a plain dot product). The
    query stays in L1; track rows are streamed once.
    """
    n_track, (n_query, dim) = stop - start, query.shape
    i = 0
    while i < n_track:
        a = _widen_row(vectors, start + i, buffer_a)
        # With an odd count the last row is paired with itself (computed twice, stored once).
        b = _widen_row(vectors, start + min(i + 1, n_track - 1), buffer_b)
        j = 0
        while j < n_query:
            # Up to four query rows; a short last group repeats its final row.
            q0 = query[j]
            q1 = query[min(j + 1, n_query - 1)]
            q2 = query[min(j + 2, n_query - 1)]
            q3 = query[min(j + 3, n_query - 1)]
            a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = _ZERO
            for k in range(dim):
                x, y = a[k], b[k]
                a0 += x * q0[k]
                a1 += x * q1[k]
                a2 += x * q2[k]
                a3 += x * q3[k]
                b0 += y * q0[k]
                b1 += y * q1[k]
                b2 += y * q2[k]
                b3 += y * q3[k]
            block = ((a0, a1, a2, a3), (b0, b1, b2, b3))
            for di in range(min(2, n_track - i)):
                for dj in range(min(4, n_query - j)):
                    sims[i + di, j + dj] = block[di][dj]
            j += 4
        i += 2


@njit(cache=True)
def _sq_dist(dot: np.float32, sq_norm_a: np.float32, sq_norm_b: np.float32) -> np.float32:
    # |a - b|^2 from one dot product; clamp the rounding of near-identical vectors at 0.
    return max(_ZERO, sq_norm_a + sq_norm_b - _TWO * dot)


# --------------------------------------------------------------------------------------
# One candidate track (rows start..stop of the packed vectors) against the query.
# --------------------------------------------------------------------------------------
@njit(cache=True)
def _centroid_cost(query_centroid, vectors, start, stop, row_buffer, sum_buffer):
    sum_buffer[:] = _ZERO
    for r in range(start, stop):
        row = _widen_row(vectors, r, row_buffer)
        for k in range(sum_buffer.size):
            sum_buffer[k] += row[k]
    inverse_count = np.float32(1.0) / np.float32(stop - start)
    total = _ZERO
    for k in range(sum_buffer.size):
        diff = sum_buffer[k] * inverse_count - query_centroid[k]
        total += diff * diff
    return total


@njit(cache=True)
def _single_cost(query_sq, sq_norms, start, stop, sims):
    best = _INF
    for i in range(stop - start):
        for j in range(query_sq.size):
            best = min(best, _sq_dist(sims[i, j], sq_norms[start + i], query_sq[j]))
    return best


@njit(cache=True)
def _complete_cost(query_sq, sq_norms, start, stop, sims):
    worst = _ZERO
    for i in range(stop - start):
        for j in range(query_sq.size):
            worst = max(worst, _sq_dist(sims[i, j], sq_norms[start + i], query_sq[j]))
    return worst


@njit(cache=True)
def _trace_cost(query, query_sq, vectors, sq_norms, start, stop, row_buffer):
    total = _ZERO
    for i in range(min(stop - start, query.shape[0])):
        row = _widen_row(vectors, start + i, row_buffer)
        total += _sq_dist(_dot(row, query[i]), sq_norms[start + i], query_sq[i])
    return total


@njit(cache=True)
def _best_trace_cost(query, query_sq, vectors, sq_norms, start, stop, row_buffer, traces):
    # Only the band of (i, j) cells lying on an admissible diagonal is computed.
    n_track, n_query = stop - start, query.shape[0]
    slack = abs(n_track - n_query)
    traces[: slack + 1] = _ZERO
    for i in range(n_track):
        row = _widen_row(vectors, start + i, row_buffer)
        if n_track >= n_query:  # query slides along the track: offset = i - j
            j_first, j_last = max(0, i - slack), min(n_query - 1, i)
        else:  # track slides along the query: offset = j - i
            j_first, j_last = i, i + slack
        for j in range(j_first, j_last + 1):
            offset = i - j if n_track >= n_query else j - i
            traces[offset] += _sq_dist(_dot(row, query[j]), sq_norms[start + i], query_sq[j])
    best = _INF
    for offset in range(slack + 1):
        best = min(best, traces[offset])
    return best


@njit(cache=True)
def _nw_dtw_cost(n_track, n_query, indel, sims, scores):
    # scores[j] holds X[i-1, j] before row i is processed and X[i, j] after.
    for j in range(n_query + 1):
        scores[j] = -indel * np.float32(j)
    for i in range(1, n_track + 1):
        diagonal = scores[0]
        scores[0] = -indel * np.float32(i)
        for j in range(1, n_query + 1):
            above = scores[j]
            scores[j] = max(
                above - indel,
                scores[j - 1] - indel,
                diagonal + sims[i - 1, j - 1],
            )
            diagonal = above
    return -scores[n_query]


@njit(cache=True)
def _sw_dtw_cost(n_track, n_query, indel, sims, scores):
    scores[: n_query + 1] = _ZERO
    best = _ZERO
    for i in range(1, n_track + 1):
        diagonal = _ZERO
        for j in range(1, n_query + 1):
            above = scores[j]
            value = max(
                _ZERO,
                above - indel,
                scores[j - 1] - indel,
                diagonal + sims[i - 1, j - 1],
            )
            scores[j] = value
            best = max(best, value)
            diagonal = above
    return -best


# --------------------------------------------------------------------------------------
# The batched kernel: parallel over candidates, no Python inside.
# --------------------------------------------------------------------------------------
@njit(cache=True)
def _score_candidates(
    method,
    query,
    query_sq,
    query_centroid,
    vectors,
    sq_norms,
    offsets,
    rows,
    indel,
    first,
    last,
    out,
):
    """Score candidates ``rows[first:last]`` into ``out[first:last]`` (one thread's share)."""
    dim, n_query = query.shape[1], query.shape[0]
    longest = n_query
    for k in range(first, last):
        longest = max(longest, offsets[rows[k] + 1] - offsets[rows[k]])
    # Scratch is allocated once per chunk of candidates, not once per candidate.
    row_buffer = np.empty(dim, dtype=np.float32)
    other_buffer = np.empty(dim, dtype=np.float32)
    work = np.empty(longest + 1, dtype=np.float32)
    sims = np.empty((longest, n_query), dtype=np.float32)
    for k in range(first, last):
        start, stop = offsets[rows[k]], offsets[rows[k] + 1]
        if method in (_SINGLE, _COMPLETE, _NW_DTW, _SW_DTW):  # costs on the full matrix
            _similarities(query, vectors, start, stop, row_buffer, other_buffer, sims)
        if method == _CENTROID:
            value = _centroid_cost(query_centroid, vectors, start, stop, row_buffer, other_buffer)
        elif method == _SINGLE:
            value = _single_cost(query_sq, sq_norms, start, stop, sims)
        elif method == _COMPLETE:
            value = _complete_cost(query_sq, sq_norms, start, stop, sims)
        elif method == _TRACE or method == _TRACE_MEAN:
            value = _trace_cost(query, query_sq, vectors, sq_norms, start, stop, row_buffer)
        elif method == _BEST_TRACE or method == _BEST_TRACE_MEAN:
            value = _best_trace_cost(
                query, query_sq, vectors, sq_norms, start, stop, row_buffer, work
            )
        elif method == _NW_DTW:
            value = _nw_dtw_cost(stop - start, n_query, indel, sims, work)
        else:
            value = _sw_dtw_cost(stop - start, n_query, indel, sims, work)
        if method == _TRACE_MEAN or method == _BEST_TRACE_MEAN:
            value /= np.float32(min(stop - start, n_query))
        out[k] = value


@njit(parallel=True, cache=True)
def _batch_kernel(
    method, query, query_sq, query_centroid, vectors, sq_norms, offsets, rows, indel, n_chunks, out
):
    # The parallel loop only hands out chunks: keeping its body a single call keeps
    # Numba's parfor lowering (the slow part of compiling) small.
    n_rows = rows.size
    for chunk in prange(n_chunks):
        _score_candidates(
            method,
            query,
            query_sq,
            query_centroid,
            vectors,
            sq_norms,
            offsets,
            rows,
            indel,
            chunk * n_rows // n_chunks,
            (chunk + 1) * n_rows // n_chunks,
            out,
        )


# --------------------------------------------------------------------------------------
# Public API.
# --------------------------------------------------------------------------------------
def resolve_indel(method: str, indel: float | None = None) -> float:
    """The gap penalty ``method`` uses: ``indel`` if given, else its published default.

    Costs other than the DTWs ignore it (and get 0.0).

    Raises
    ------
    UnknownMethodError
        ``method`` is not in :data:`METHODS`.
    InvalidIndelError
        ``indel`` is negative, NaN or infinite.
    """
    method_code(method)
    if indel is None:
        return DEFAULT_INDELS.get(method, 0.0)
    indel = float(indel)
    if not np.isfinite(indel) or indel < 0.0:
        raise InvalidIndelError(f"indel must be a finite number >= 0, got {indel}")
    return indel if method in DEFAULT_INDELS else 0.0


def method_code(method: str) -> int:
    """Index of ``method`` in :data:`METHODS`; raises :class:`UnknownMethodError`."""
    try:
        return _METHOD_CODE[method]
    except (KeyError, TypeError):
        raise UnknownMethodError(
            f"unknown ranking method {method!r}; expected one of {', '.join(METHODS)}"
        ) from None


def batch_distances(
    query: np.ndarray,
    packed: PackedSegments,
    rows: np.ndarray | Sequence[int],
    method: str,
    *,
    indel: float | None = None,
) -> np.ndarray:
    """Distance of the query to each candidate track ``rows`` of ``packed``.

    Parameters
    ----------
    query : np.ndarray, shape (Kq, d)
        Query segment embeddings (L2-normalised in the service; the costs are
        computed exactly as defined for any finite vectors).
    packed : PackedSegments
        The catalog's segment embeddings.
    rows : array of int, shape (n,)
        Candidate track ids (indices into ``packed``); repeats are allowed.
    method : str
        One of :data:`METHODS`.
    indel : float, optional
        Gap penalty of ``nw_dtw`` / ``sw_dtw`` (default 0.05 / 0.01); ignored otherwise.

    Returns
    -------
    np.ndarray, shape (n,), float32
        Lower is better. The DTWs return their negated alignment score.

    Raises
    ------
    UnknownMethodError, DimensionMismatchError, EmptySequenceError,
    NonFiniteEmbeddingError, CandidateIndexError, InvalidIndelError
    """
    code = method_code(method)
    gap = np.float32(resolve_indel(method, indel))
    query = check_sequence(query, "query", packed.dim)
    rows = check_rows(rows, packed.n_tracks)
    out = np.empty(rows.size, dtype=np.float32)
    if rows.size == 0:
        return out
    wide = query.astype(np.float64)
    arguments = (
        code,
        query,
        np.einsum("kd,kd->k", wide, wide).astype(np.float32),
        wide.mean(axis=0).astype(np.float32),
        packed.kernel_vectors(),
        packed.sq_norms,
        packed.offsets,
        rows,
        gap,
    )
    if rows.size < PARALLEL_MIN_CANDIDATES:
        _score_candidates(*arguments, 0, rows.size, out)
    else:
        # A few chunks per thread: small enough to balance tracks of different lengths.
        n_chunks = min(rows.size, 4 * numba.get_num_threads())
        with _PARALLEL_LOCK:
            _batch_kernel(*arguments, n_chunks, out)
    return out


def distance_matrix(
    queries: PackedSegments,
    packed: PackedSegments,
    rows: np.ndarray | Sequence[int],
    method: str,
    *,
    indel: float | None = None,
) -> np.ndarray:
    """``(n_queries, n)`` float64: the cost of every query sequence of ``queries`` to each
    candidate track ``rows`` of ``packed`` (:func:`batch_distances` row by row)."""
    rows = check_rows(rows, packed.n_tracks)
    return np.stack(
        [
            batch_distances(queries.track(q), packed, rows, method, indel=indel)
            for q in range(queries.n_tracks)
        ]
    ).astype(np.float64)


def distance(
    query: np.ndarray, track: np.ndarray, method: str, *, indel: float | None = None
) -> float:
    """The cost between one query ``(Kq, d)`` and one track ``(Kc, d)``."""
    track = check_sequence(track, "track")
    packed = PackedSegments(track, np.array([0, track.shape[0]]))
    return float(
        batch_distances(query, packed, np.zeros(1, dtype=np.int64), method, indel=indel)[0]
    )


def rerank(
    query: np.ndarray,
    packed: PackedSegments,
    rows: np.ndarray | Sequence[int],
    method: str,
    k: int | None = None,
    *,
    indel: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best candidates of ``rows`` under ``method``, best first.

    Ties keep the order of ``rows`` (a stable sort), so a shortlist already
    ordered by centroid distance breaks ties by centroid.

    Returns
    -------
    (rows, distances) : tuple of np.ndarray
        The chosen track ids (int64) and their distances (float32), ascending.
    """
    rows = check_rows(rows, packed.n_tracks)
    distances = batch_distances(query, packed, rows, method, indel=indel)
    order = np.argsort(distances, kind="stable")
    if k is not None:
        order = order[: max(int(k), 0)]
    return rows[order], distances[order]


def warm_up(dtypes: Sequence[np.dtype | type] = (np.float32,)) -> None:
    """Compile (or load from Numba's on-disk cache) the kernel for each storage dtype.

    A service calls this at start-up so that the first request does not pay for
    compilation.
    """
    query = np.eye(2, 4, dtype=np.float32)
    for dtype in dtypes:
        packed = PackedSegments(np.eye(3, 4, dtype=np.float32), np.array([0, 1, 3])).astype(dtype)
        batch_distances(query, packed, np.arange(2), "nw_dtw")
