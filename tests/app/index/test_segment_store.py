"""The packed segment store: append, tombstone, compaction, and its ranking view."""

from __future__ import annotations

import numpy as np
import pytest

from app.index.errors import DimensionMismatchError, InvalidEmbeddingsError
from app.index.segment_store import SegmentStore, normalize_rows
from ml.ranking import METHODS, PackedSegments, batch_distances, reference


def _store(catalog, dtype="float32") -> SegmentStore:
    store = SegmentStore(catalog.vectors.shape[1], dtype)
    store.add(catalog.track_ids, normalize_rows(catalog.vectors), catalog.offsets)
    return store


def test_packed_view_equals_a_validated_packed_segments(small_catalog):
    store = _store(small_catalog)
    view = store.packed()
    built = PackedSegments(store.vectors.copy(), store.offsets.copy())
    np.testing.assert_array_equal(view.vectors, built.vectors)
    np.testing.assert_array_equal(view.offsets, built.offsets)
    np.testing.assert_array_equal(view.sq_norms, built.sq_norms)
    assert view.n_tracks == len(small_catalog.track_ids)


@pytest.mark.parametrize("method", METHODS)
def test_kernels_on_the_store_match_the_reference(small_catalog, queries, method):
    store = _store(small_catalog)
    query = normalize_rows(queries[0])
    rows = np.array([0, 5, 77, 399])
    got = batch_distances(query, store.packed(), rows, method)
    for value, row in zip(got, rows):
        target = store.vectors[store.offsets[row] : store.offsets[row + 1]]
        expected = reference.reference_distance(query, target, method)
        assert value == pytest.approx(expected, abs=1e-4)


def test_remove_tombstones_and_compaction_keeps_live_tracks(small_catalog):
    store = _store(small_catalog)
    before = {int(t): store.segments(t).copy() for t in small_catalog.track_ids[::7]}
    removed = small_catalog.track_ids[1::2]
    for track_id in removed:
        assert store.remove(track_id) is not None
    assert store.remove(removed[0]) is None  # idempotent
    assert len(store) == 200 and store.n_slots == 400
    assert store.needs_compaction
    kept = store.compact()
    np.testing.assert_array_equal(kept, np.arange(0, 400, 2))
    assert store.n_slots == 200 and store.alive.all() and not store.needs_compaction
    for track_id, segments in before.items():
        if track_id in store:
            np.testing.assert_array_equal(store.segments(track_id), segments)
    packed = PackedSegments(store.vectors.copy(), store.offsets.copy())
    np.testing.assert_array_equal(store.packed().sq_norms, packed.sq_norms)


def test_add_after_remove_and_growth(small_catalog):
    store = SegmentStore(16)
    cat = small_catalog
    for i in range(len(cat.track_ids)):  # one by one: exercises geometric growth
        rows = normalize_rows(cat.segments(i))
        store.add(cat.track_ids[i : i + 1], rows, np.array([0, len(rows)]))
    np.testing.assert_allclose(store.vectors, normalize_rows(cat.vectors), atol=1e-7)
    store.remove(cat.track_ids[3])
    store.add(
        cat.track_ids[3:4], normalize_rows(cat.segments(3)), np.array([0, len(cat.segments(3))])
    )
    assert store.slot(cat.track_ids[3]) == 400
    np.testing.assert_allclose(store.segments(cat.track_ids[3]), normalize_rows(cat.segments(3)))


def test_float16_storage_halves_memory_and_keeps_values(small_catalog):
    full, half = _store(small_catalog), _store(small_catalog, "float16")
    assert half.vectors.dtype == np.float16
    assert half.vectors.nbytes * 2 == full.vectors.nbytes
    np.testing.assert_allclose(half.vectors.astype(np.float32), full.vectors, atol=1e-3)
    packed = PackedSegments(half.vectors.copy(), half.offsets.copy())
    np.testing.assert_array_equal(half.packed().sq_norms, packed.sq_norms)


def test_from_packed_adopts_arrays(small_catalog):
    store = _store(small_catalog)
    ids, vectors, offsets = store.live_arrays()
    again = SegmentStore.from_packed(ids, vectors, offsets)
    np.testing.assert_array_equal(again.packed().sq_norms, store.packed().sq_norms)
    assert len(again) == len(store)


@pytest.mark.parametrize(
    "bad, error",
    [
        (np.zeros((0, 16)), InvalidEmbeddingsError),
        (np.zeros(16), InvalidEmbeddingsError),
        (np.full((2, 16), np.nan), InvalidEmbeddingsError),
        (np.zeros((2, 16)), InvalidEmbeddingsError),
    ],
)
def test_normalize_rows_rejects_bad_embeddings(bad, error):
    with pytest.raises(error):
        normalize_rows(bad)


def test_add_rejects_bad_batches(small_catalog):
    store = _store(small_catalog)
    rows = normalize_rows(np.ones((3, 16)))
    with pytest.raises(InvalidEmbeddingsError, match="already"):
        store.add(small_catalog.track_ids[:1], rows, np.array([0, 3]))
    with pytest.raises(InvalidEmbeddingsError, match="offsets"):
        store.add(np.array([10_000]), rows, np.array([0, 2]))
    with pytest.raises(InvalidEmbeddingsError, match="twice"):
        store.add(np.array([10_000, 10_000]), rows, np.array([0, 1, 3]))
    with pytest.raises(DimensionMismatchError):
        store.add(np.array([10_000]), normalize_rows(np.ones((3, 8))), np.array([0, 3]))
    assert len(store) == 400  # nothing half-applied
