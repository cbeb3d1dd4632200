"""The batched Numba kernel against the plain-Python definitions of docs/method.md §5."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from ml.ranking import (
    DEFAULT_INDELS,
    METHODS,
    PackedSegments,
    batch_distances,
    distance,
    distance_matrix,
    rerank,
)
from ml.ranking import costs as kernel
from ml.ranking.reference import reference_distance

TOLERANCE = 1e-5
PROPERTY_SETTINGS = settings(max_examples=40, deadline=None)


def unit_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@st.composite
def ranking_problems(draw, min_dim: int = 1):
    """A query and a small catalog of random unit-norm segments, sizes from 1 up."""
    dim = draw(st.integers(min_dim, 24))
    n_query = draw(st.integers(1, 12))
    lengths = draw(st.lists(st.integers(1, 14), min_size=1, max_size=5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    tracks = [unit_rows(rng, k, dim) for k in lengths]
    return unit_rows(rng, n_query, dim), tracks


def assert_matches_reference(query, packed, method, indel=None):
    got = batch_distances(query, packed, np.arange(packed.n_tracks), method, indel=indel)
    want = [
        reference_distance(query, packed.track(t).astype(np.float64), method, indel)
        for t in range(packed.n_tracks)
    ]
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("method", METHODS)
@PROPERTY_SETTINGS
@given(problem=ranking_problems())
def test_kernel_matches_reference(method, problem):
    query, tracks = problem
    assert_matches_reference(query, PackedSegments.from_sequences(tracks), method)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("n_track", "n_query"),
    [(1, 1), (1, 6), (6, 1), (3, 8), (8, 3), (7, 7)],
    ids=["Kc=Kq=1", "Kc=1", "Kq=1", "Kc<Kq", "Kc>Kq", "Kc=Kq"],
)
def test_kernel_matches_reference_on_each_size_relation(method, n_track, n_query):
    rng = np.random.default_rng(n_track * 100 + n_query)
    query = unit_rows(rng, n_query, 16)
    packed = PackedSegments.from_sequences([unit_rows(rng, n_track, 16) for _ in range(3)])
    assert_matches_reference(query, packed, method)


@pytest.mark.parametrize("method", ["nw_dtw", "sw_dtw"])
@PROPERTY_SETTINGS
@given(problem=ranking_problems(), indel=st.floats(0.0, 1.0))
def test_indel_is_a_parameter(method, problem, indel):
    query, tracks = problem
    assert_matches_reference(query, PackedSegments.from_sequences(tracks), method, indel)


def test_default_indels_are_the_published_ones():
    assert DEFAULT_INDELS == {"nw_dtw": 0.05, "sw_dtw": 0.01}
    rng = np.random.default_rng(3)
    query = unit_rows(rng, 4, 16)
    # The track is the query with one foreign segment inserted: the best alignment
    # pays exactly one gap.
    track = np.concatenate([query[:2], unit_rows(rng, 1, 16), query[2:]])
    for method, indel in DEFAULT_INDELS.items():
        assert distance(query, track, method) == distance(query, track, method, indel=indel)
        assert distance(query, track, method) == pytest.approx(-(4.0 - indel), abs=TOLERANCE)
        assert distance(query, track, method, indel=0.5) > distance(query, track, method)


@pytest.mark.parametrize("method", METHODS)
@PROPERTY_SETTINGS
@given(problem=ranking_problems())
def test_float16_storage_is_exact_on_the_rounded_values(method, problem):
    """Half storage only rounds the stored vectors; the arithmetic stays float32."""
    query, tracks = problem
    half = PackedSegments.from_sequences(tracks, np.float16)
    assert half.vectors.dtype == np.float16
    assert_matches_reference(query, half, method)


@njit(cache=True)
def widen_all(vectors):
    """Every row of uint16 half bits, widened by the kernel's own row reader."""
    out = np.empty(vectors.shape, dtype=np.float32)
    buffer = np.empty(vectors.shape[1], dtype=np.float32)
    for r in range(vectors.shape[0]):
        out[r] = kernel._widen_row(vectors, r, buffer)
    return out


def test_float16_widening_is_exact_for_every_finite_half():
    bits = np.arange(2**16, dtype=np.uint16)
    finite = bits[np.isfinite(bits.view(np.float16))]
    widened = widen_all(finite.reshape(-1, 1))
    expected = finite.view(np.float16).astype(np.float32).reshape(-1, 1)
    np.testing.assert_array_equal(widened.view(np.uint32), expected.view(np.uint32))


@pytest.mark.parametrize("method", METHODS)
@PROPERTY_SETTINGS
@given(problem=ranking_problems())
def test_every_cost_is_symmetric(method, problem):
    query, tracks = problem
    for track in tracks:
        forward = distance(query, track, method)
        backward = distance(track, query, method)
        assert forward == pytest.approx(backward, abs=TOLERANCE)


@pytest.mark.parametrize("method", [m for m in METHODS if m != "complete"])
@PROPERTY_SETTINGS
@given(problem=ranking_problems(min_dim=8), position=st.integers(0, 5))
def test_target_equal_to_query_ranks_first(method, problem, position):
    """Any catalog: the query itself scores 0 (distances) or the maximal Kq (DTWs).

    Complete linkage is the exception: its value on the query itself is the
    query's own spread, so it is tested on a constructed catalog below.
    """
    query, tracks = problem
    position = min(position, len(tracks))
    tracks = tracks[:position] + [query] + tracks[position:]
    ranked, _ = rerank(query, PackedSegments.from_sequences(tracks), np.arange(len(tracks)), method)
    assert ranked[0] == position


@pytest.mark.parametrize("method", METHODS)
def test_target_equal_to_query_ranks_first_in_a_clustered_catalog(method, clustered_catalog):
    catalog = clustered_catalog
    rows = np.arange(catalog.packed.n_tracks)
    ranked, distances = rerank(catalog.query, catalog.packed, rows, method)
    assert ranked[0] == catalog.target
    assert distances[0] < distances[1]


def test_candidate_order_repeats_and_subsets_are_respected():
    rng = np.random.default_rng(5)
    query = unit_rows(rng, 4, 8)
    packed = PackedSegments.from_sequences([unit_rows(rng, k, 8) for k in (3, 1, 6, 2)])
    everything = batch_distances(query, packed, np.arange(4), "nw_dtw")
    rows = np.array([2, 0, 2, 3])
    np.testing.assert_array_equal(batch_distances(query, packed, rows, "nw_dtw"), everything[rows])
    assert batch_distances(query, packed, np.array([], dtype=np.int64), "trace").shape == (0,)


def test_rerank_returns_the_k_best_in_order():
    rng = np.random.default_rng(6)
    query = unit_rows(rng, 5, 8)
    packed = PackedSegments.from_sequences([unit_rows(rng, 4, 8) for _ in range(20)])
    rows = np.arange(3, 20)
    ranked, distances = rerank(query, packed, rows, "sw_dtw", k=5)
    full = batch_distances(query, packed, rows, "sw_dtw")
    assert len(ranked) == 5 and np.all(np.diff(distances) >= 0)
    np.testing.assert_array_equal(ranked, rows[np.argsort(full, kind="stable")[:5]])


def test_kernel_agrees_with_itself_across_chunkings():
    """Many candidates of very different lengths: chunk boundaries must not matter."""
    rng = np.random.default_rng(8)
    query = unit_rows(rng, 10, 16)
    tracks = [unit_rows(rng, int(k), 16) for k in rng.integers(1, 40, size=101)]
    packed = PackedSegments.from_sequences(tracks)
    rows = rng.permutation(101)
    assert rows.size >= kernel.PARALLEL_MIN_CANDIDATES  # the parallel path
    for method in METHODS:
        batched = batch_distances(query, packed, rows, method)
        one_by_one = [distance(query, tracks[r], method) for r in rows]
        np.testing.assert_allclose(batched, one_by_one, rtol=0, atol=TOLERANCE)


def test_concurrent_calls_from_threads_agree_with_sequential_ones():
    """A web server ranks from several threads at once."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(12)
    packed = PackedSegments.from_sequences([unit_rows(rng, 5, 16) for _ in range(200)])
    queries = [unit_rows(rng, 6, 16) for _ in range(8)]
    rows = np.arange(200)
    sequential = [batch_distances(q, packed, rows, "sw_dtw") for q in queries]
    with ThreadPoolExecutor(4) as pool:
        concurrent = list(pool.map(lambda q: batch_distances(q, packed, rows, "sw_dtw"), queries))
    for a, b in zip(sequential, concurrent, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("method", ["nw_dtw", "best_trace_mean"])
def test_distance_matrix_is_every_query_against_every_candidate(method):
    rng = np.random.default_rng(3)
    tracks = [unit_rows(rng, int(rng.integers(1, 6)), 8) for _ in range(7)]
    queries = [unit_rows(rng, int(rng.integers(1, 5)), 8) for _ in range(3)]
    rows = np.array([4, 0, 6])
    got = distance_matrix(
        PackedSegments.from_sequences(queries), PackedSegments.from_sequences(tracks), rows, method
    )
    expected = [[distance(q, tracks[r], method) for r in rows] for q in queries]
    assert got.shape == (3, 3) and got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE)
