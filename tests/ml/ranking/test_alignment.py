"""Alignment details, and the scenarios of docs/method.md §6 on constructed catalogs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml.ranking import (
    DEFAULT_INDELS,
    METHODS,
    PackedSegments,
    align,
    align_candidates,
    batch_distances,
    distance,
    rerank,
)
from ml.ranking.reference import best_trace, nw_dtw_matrix, sw_dtw_matrix

TOLERANCE = 1e-5
PROPERTY_SETTINGS = settings(max_examples=40, deadline=None)


def unit_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@st.composite
def pairs_of_sequences(draw):
    dim = draw(st.integers(2, 16))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return (
        unit_rows(rng, draw(st.integers(1, 12)), dim),
        unit_rows(rng, draw(st.integers(1, 12)), dim),
    )


def assert_monotone_pairs(pairs: np.ndarray, n_track: int, n_query: int) -> None:
    assert pairs.dtype == np.int64 and pairs.ndim == 2 and pairs.shape[1] == 2
    if len(pairs):
        assert np.all(np.diff(pairs, axis=0) > 0), "pairs must strictly increase in both columns"
        assert pairs[:, 0].min() >= 0 and pairs[:, 0].max() < n_track
        assert pairs[:, 1].min() >= 0 and pairs[:, 1].max() < n_query


@pytest.mark.parametrize("method", METHODS)
@PROPERTY_SETTINGS
@given(sequences=pairs_of_sequences())
def test_alignment_distance_is_the_kernel_distance(method, sequences):
    query, track = sequences
    result = align(query, track, method)
    assert result.method == method
    assert result.distance == pytest.approx(distance(query, track, method), abs=TOLERANCE)
    assert_monotone_pairs(result.pairs, len(track), len(query))


@PROPERTY_SETTINGS
@given(sequences=pairs_of_sequences(), indel=st.floats(0.0, 0.5))
def test_nw_path_scores_its_distance(sequences, indel):
    """Matched pairs earn their similarity, every unmatched segment pays one gap."""
    query, track = sequences
    result = align(query, track, "nw_dtw", indel=indel)
    sims = track.astype(np.float64) @ query.astype(np.float64).T
    n_pairs = len(result.pairs)
    n_gaps = (len(track) - n_pairs) + (len(query) - n_pairs)
    path_score = sims[tuple(result.pairs.T)].sum() - indel * n_gaps
    assert -result.distance == pytest.approx(path_score, abs=1e-9)
    assert -result.distance == pytest.approx(
        nw_dtw_matrix(track.tolist(), query.tolist(), indel)[-1][-1], abs=1e-9
    )
    assert (result.track_span, result.query_span) == ((0, len(track)), (0, len(query)))


@PROPERTY_SETTINGS
@given(sequences=pairs_of_sequences(), indel=st.floats(0.0, 0.5))
def test_sw_path_scores_its_distance_inside_its_span(sequences, indel):
    query, track = sequences
    result = align(query, track, "sw_dtw", indel=indel)
    best = max(max(row) for row in sw_dtw_matrix(track.tolist(), query.tolist(), indel))
    assert -result.distance == pytest.approx(best, abs=1e-9)
    if len(result.pairs) == 0:
        assert result.distance == 0.0 and result.track_span is None and result.start is None
        return
    sims = track.astype(np.float64) @ query.astype(np.float64).T
    (t0, t1), (q0, q1) = result.track_span, result.query_span
    n_pairs = len(result.pairs)
    n_gaps = (t1 - t0 - n_pairs) + (q1 - q0 - n_pairs)
    assert -result.distance == pytest.approx(
        sims[tuple(result.pairs.T)].sum() - indel * n_gaps, abs=1e-9
    )
    assert result.start == (t0, q0) and result.end == (t1 - 1, q1 - 1)


@PROPERTY_SETTINGS
@given(sequences=pairs_of_sequences())
def test_best_trace_offset_names_the_winning_diagonal(sequences):
    query, track = sequences
    result = align(query, track, "best_trace")
    assert len(result.pairs) == min(len(track), len(query))
    assert np.all(result.pairs[:, 0] - result.pairs[:, 1] == result.offset)
    slack = len(track) - len(query)
    assert min(0, slack) <= result.offset <= max(0, slack)
    assert result.distance == pytest.approx(best_trace(track.tolist(), query.tolist()), abs=1e-9)


def test_single_and_complete_name_their_pair():
    rng = np.random.default_rng(1)
    query, track = unit_rows(rng, 4, 8), unit_rows(rng, 6, 8)
    sq = ((track[:, None].astype(np.float64) - query[None]) ** 2).sum(-1)
    closest, farthest = align(query, track, "single"), align(query, track, "complete")
    assert tuple(closest.pairs[0]) == np.unravel_index(np.argmin(sq), sq.shape)
    assert tuple(farthest.pairs[0]) == np.unravel_index(np.argmax(sq), sq.shape)
    centroid = align(query, track, "centroid")
    assert centroid.pairs.shape == (0, 2) and centroid.track_span == (0, 6)


def test_excerpt_inside_a_longer_track_is_located():
    """A video made from segments 5..8 of a 12-segment track (a commercial's cut)."""
    rng = np.random.default_rng(2)
    track = unit_rows(rng, 12, 32)
    query = track[5:9].copy()
    bt = align(query, track, "best_trace")
    assert bt.offset == 5 and bt.track_span == (5, 9) and bt.distance == pytest.approx(0, abs=1e-6)
    sw = align(query, track, "sw_dtw")
    assert sw.track_span == (5, 9) and sw.query_span == (0, 4)
    np.testing.assert_array_equal(sw.pairs, [[5, 0], [6, 1], [7, 2], [8, 3]])
    assert sw.distance == pytest.approx(-4.0, abs=1e-6)


def test_nw_path_skips_repeated_segments():
    rng = np.random.default_rng(4)
    query = unit_rows(rng, 5, 32)
    stretched = np.repeat(query, 2, axis=0)  # every segment held twice as long
    result = align(query, stretched, "nw_dtw")
    assert len(result.pairs) == 5
    np.testing.assert_array_equal(result.pairs[:, 1], np.arange(5))
    np.testing.assert_array_equal(result.pairs[:, 0] // 2, np.arange(5))
    assert result.distance == pytest.approx(-(5.0 - 5 * DEFAULT_INDELS["nw_dtw"]), abs=1e-6)


def test_align_candidates_follows_rows():
    rng = np.random.default_rng(9)
    query = unit_rows(rng, 3, 8)
    packed = PackedSegments.from_sequences([unit_rows(rng, k, 8) for k in (2, 5, 4)])
    results = align_candidates(query, packed, [2, 0], "sw_dtw")
    expected = batch_distances(query, packed, [2, 0], "sw_dtw")
    np.testing.assert_allclose([r.distance for r in results], expected, atol=TOLERANCE)


def test_float16_alignments_use_the_stored_values():
    rng = np.random.default_rng(10)
    query = unit_rows(rng, 4, 16)
    packed = PackedSegments.from_sequences([unit_rows(rng, 7, 16)], np.float16)
    (result,) = align_candidates(query, packed, [0], "nw_dtw")
    assert result.distance == pytest.approx(
        float(batch_distances(query, packed, [0], "nw_dtw")[0]), abs=TOLERANCE
    )


# --------------------------------------------------------------------------------------
# The realistic scenarios of docs/method.md §6, on constructed catalogs (see conftest.py).
# --------------------------------------------------------------------------------------
def rank_of(catalog, method: str) -> int:
    ranked, _ = rerank(catalog.query, catalog.packed, np.arange(catalog.packed.n_tracks), method)
    return int(np.flatnonzero(ranked == catalog.target)[0])


def test_stretch_nw_dtw_ranks_the_true_target_better_than_trace(stretch_catalog):
    nw_rank, trace_rank = rank_of(stretch_catalog, "nw_dtw"), rank_of(stretch_catalog, "trace")
    assert nw_rank == 0
    assert trace_rank > nw_rank


def test_crop_best_trace_ranks_the_true_target_better_than_trace(crop_catalog):
    best_rank, trace_rank = rank_of(crop_catalog, "best_trace"), rank_of(crop_catalog, "trace")
    assert best_rank == 0
    assert trace_rank > best_rank
    found = align(crop_catalog.query, crop_catalog.packed.track(0), "best_trace")
    assert found.offset == 2  # the two cropped segments
