"""Packed storage, and the precise exception raised for each kind of bad input."""

from __future__ import annotations

import numpy as np
import pytest

from ml.ranking import (
    CandidateIndexError,
    DimensionMismatchError,
    EmptySequenceError,
    InvalidIndelError,
    InvalidOffsetsError,
    NonFiniteEmbeddingError,
    PackedSegments,
    RankingInputError,
    UnknownMethodError,
    align,
    batch_distances,
    distance,
    resolve_indel,
)


@pytest.fixture()
def packed() -> PackedSegments:
    rng = np.random.default_rng(0)
    return PackedSegments.from_sequences([rng.standard_normal((k, 4)) for k in (2, 3, 1)])


@pytest.fixture()
def query() -> np.ndarray:
    return np.eye(2, 4, dtype=np.float32)


def test_packing_keeps_tracks_and_offsets(packed):
    assert packed.n_tracks == len(packed) == 3 and packed.dim == 4
    np.testing.assert_array_equal(packed.offsets, [0, 2, 5, 6])
    np.testing.assert_array_equal(packed.lengths, [2, 3, 1])
    assert packed.vectors.dtype == np.float32 and not packed.vectors.flags.writeable
    np.testing.assert_allclose(
        packed.sq_norms, (packed.vectors.astype(np.float64) ** 2).sum(1), rtol=1e-6
    )
    subset = packed.select([2, 0])
    np.testing.assert_array_equal(subset.track(0), packed.track(2))
    np.testing.assert_array_equal(subset.track(1), packed.track(0))


def test_float16_storage_halves_the_vectors(packed):
    half = packed.astype(np.float16)
    assert half.vectors.dtype == np.float16
    assert half.vectors.nbytes * 2 == packed.vectors.nbytes
    assert half.kernel_vectors().dtype == np.uint16


def test_every_error_is_a_value_error():
    for error in (
        UnknownMethodError,
        DimensionMismatchError,
        EmptySequenceError,
        NonFiniteEmbeddingError,
        CandidateIndexError,
        InvalidOffsetsError,
        InvalidIndelError,
    ):
        assert issubclass(error, RankingInputError) and issubclass(error, ValueError)
    assert issubclass(CandidateIndexError, IndexError)


def test_unknown_method(packed, query):
    with pytest.raises(UnknownMethodError, match="dtw"):
        batch_distances(query, packed, [0], "dtw")
    with pytest.raises(UnknownMethodError):
        align(query, query, "euclid")


@pytest.mark.parametrize(
    ("bad_query", "error"),
    [
        (np.ones(4, dtype=np.float32), DimensionMismatchError),
        (np.ones((2, 5), dtype=np.float32), DimensionMismatchError),
        (np.ones((2, 4), dtype=np.int64), DimensionMismatchError),
        (np.zeros((0, 4), dtype=np.float32), EmptySequenceError),
        (np.array([[np.nan, 0, 0, 0]], dtype=np.float32), NonFiniteEmbeddingError),
        (np.array([[np.inf, 0, 0, 0]], dtype=np.float32), NonFiniteEmbeddingError),
    ],
)
def test_bad_query(packed, bad_query, error):
    with pytest.raises(error):
        batch_distances(bad_query, packed, [0], "trace")


@pytest.mark.parametrize("rows", [[3], [-1], [0.5], [[0, 1]]])
def test_bad_candidate_ids(packed, query, rows):
    with pytest.raises(CandidateIndexError):
        batch_distances(query, packed, np.array(rows), "nw_dtw")


@pytest.mark.parametrize("indel", [-0.1, float("nan"), float("inf")])
def test_bad_indel(packed, query, indel):
    with pytest.raises(InvalidIndelError):
        batch_distances(query, packed, [0], "sw_dtw", indel=indel)


def test_indel_is_ignored_by_costs_without_gaps():
    assert resolve_indel("trace", 0.3) == 0.0
    assert resolve_indel("nw_dtw") == 0.05 and resolve_indel("sw_dtw", 0.2) == 0.2


@pytest.mark.parametrize(
    ("vectors", "offsets", "error"),
    [
        (np.zeros((3, 4)), [0, 1, 2], InvalidOffsetsError),  # does not end at N
        (np.zeros((3, 4)), [1, 3], InvalidOffsetsError),  # does not start at 0
        (np.zeros((3, 4)), [0, 2, 2, 3], InvalidOffsetsError),  # an empty track
        (np.zeros((3, 4)), [0.0, 3.0], InvalidOffsetsError),
        (np.zeros((3, 4)), [[0, 3]], InvalidOffsetsError),
        (np.zeros(3), [0, 3], DimensionMismatchError),
        (np.zeros((3, 4), dtype=np.int32), [0, 3], DimensionMismatchError),
        (np.full((3, 4), np.nan), [0, 3], NonFiniteEmbeddingError),
    ],
)
def test_bad_packed_arrays(vectors, offsets, error):
    with pytest.raises(error):
        PackedSegments(vectors, np.asarray(offsets))


def test_bad_sequences_to_pack():
    with pytest.raises(EmptySequenceError):
        PackedSegments.from_sequences([])
    with pytest.raises(EmptySequenceError):
        PackedSegments.from_sequences([np.ones((2, 4)), np.ones((0, 4))])
    with pytest.raises(DimensionMismatchError):
        PackedSegments.from_sequences([np.ones((2, 4)), np.ones((2, 3))])
    with pytest.raises(DimensionMismatchError):
        PackedSegments.from_sequences([np.ones((2, 4))], dtype=np.float64)
    with pytest.raises(NonFiniteEmbeddingError):  # overflows half precision
        PackedSegments.from_sequences([np.full((1, 4), 1e6)], dtype=np.float16)
    with pytest.raises(CandidateIndexError):
        PackedSegments.from_sequences([np.ones((2, 4))]).track(1)


def test_single_pair_inputs_are_checked(query):
    with pytest.raises(DimensionMismatchError):
        distance(query, np.ones((3, 5), dtype=np.float32), "centroid")
    with pytest.raises(EmptySequenceError):
        align(query, np.ones((0, 4), dtype=np.float32), "sw_dtw")
