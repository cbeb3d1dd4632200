"""The CatalogIndex facade: two-stage search, consistency of updates and snapshots."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from app.index.catalog import CatalogIndex
from app.index.errors import (
    DimensionMismatchError,
    InvalidEmbeddingsError,
    InvalidSearchError,
    SnapshotError,
)
from app.index.metadata import SearchFilters, TrackMetadata
from bench.synthetic_catalog import make_query
from ml.ranking import METHODS, align, reference

FAST_METHODS = ("centroid", "trace", "best_trace", "nw_dtw", "sw_dtw")


def _build(catalog, **options) -> CatalogIndex:
    index = CatalogIndex(catalog.vectors.shape[1], device="cpu", **options)
    index.add_tracks(catalog.track_ids, catalog.vectors, catalog.offsets, catalog.metadata)
    return index


def _unit(x):
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _results(index, queries, method="nw_dtw", **kwargs):
    return [
        [
            (h.track_id, round(h.distance, 5))
            for h in index.search(q, 10, method, with_alignment=False, **kwargs)
        ]
        for q in queries
    ]


@pytest.mark.parametrize("method", METHODS)
def test_exhaustive_shortlist_equals_reference_ranking(small_catalog, queries, method):
    index = _build(small_catalog)
    query = queries[1]
    hits = index.search(query, 5, method, shortlist=400, with_alignment=False)
    expected = sorted(
        (
            reference.reference_distance(_unit(query), _unit(small_catalog.segments(i)), method),
            int(small_catalog.track_ids[i]),
        )
        for i in range(400)
    )
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5]
    for hit, (distance, _) in zip(hits, expected):
        assert hit.distance == pytest.approx(distance, abs=1e-4)
        assert hit.score == -hit.distance
    # The ids agree except where two tracks tie within float32 rounding.
    assert hits[0].track_id == expected[0][1] or hits[0].distance == pytest.approx(
        expected[1][0], abs=1e-4
    )


def test_the_source_track_ranks_first(small_catalog):
    index = _build(small_catalog)
    for i in (3, 150, 321):
        query = make_query(small_catalog, i, n_segments=20, query_spread=0.2, seed=i)  # whole track
        for method in FAST_METHODS:
            hits = index.search(query, 3, method, shortlist=50, with_alignment=False)
            assert hits[0].track_id == small_catalog.track_ids[i], method


def test_incremental_updates_equal_a_fresh_build(small_catalog, queries):
    cat = small_catalog
    index = _build(cat)
    gone = cat.track_ids[::3]
    index.remove_tracks(gone)  # a third of the rows dead: triggers compaction
    index.remove_track(cat.track_ids[1])
    index.add_track(cat.track_ids[1], cat.segments(1), cat.metadata[1])  # re-added at the end
    keep = np.flatnonzero(~np.isin(cat.track_ids, gone))
    fresh = CatalogIndex(16, device="cpu")
    for i in keep:
        fresh.add_track(cat.track_ids[i], cat.segments(i), cat.metadata[i])
    np.testing.assert_array_equal(index.track_ids(), fresh.track_ids())
    for method in FAST_METHODS:
        assert _results(index, queries, method) == _results(fresh, queries, method)
    f = SearchFilters(tags_any={"tag-03", "tag-04"}, bpm_max=150)
    assert _results(index, queries, filters=f) == _results(fresh, queries, filters=f)


def test_replacing_a_track_updates_its_segments_and_metadata(small_catalog, queries):
    index = _build(small_catalog)
    track_id = int(small_catalog.track_ids[0])
    index.add_track(track_id, queries[3], TrackMetadata(license="x", bpm=99))
    assert len(index) == 400
    assert index.metadata(track_id) == TrackMetadata(license="x", bpm=99.0)
    assert index.search(queries[3], 1, "trace", with_alignment=False)[0].track_id == track_id


@pytest.mark.slow
@pytest.mark.parametrize("exact_max", [100_000, 1000])
def test_snapshot_and_reload_give_identical_results(tmp_path, clustered, exact_max):
    index = _build(clustered, exact_max=exact_max, dtype="float16")
    index.remove_tracks(clustered.track_ids[:50])
    queries = [make_query(clustered, i, seed=i) for i in range(100, 6000, 1200)]
    first = index.snapshot(tmp_path)
    index.remove_track(clustered.track_ids[60])
    second = index.snapshot(tmp_path)  # becomes current; the first is kept as previous
    assert first.exists() and second.exists()
    again = CatalogIndex.load(tmp_path, device="cpu")
    assert again.stats()["centroid_index"] == index.stats()["centroid_index"]
    assert again.stats()["dtype"] == "float16" and len(again) == len(index)
    filters = SearchFilters(licenses={"cc-by", "library-a"}, min_duration_s=120)
    for method in ("trace", "sw_dtw"):
        assert _results(again, queries, method, shortlist=300) == _results(
            index, queries, method, shortlist=300
        )
        assert _results(again, queries, method, filters=filters) == _results(
            index, queries, method, filters=filters
        )
    third = index.snapshot(tmp_path)
    assert third.exists() and second.exists() and not first.exists()  # two kept


def test_snapshot_errors(tmp_path, small_catalog):
    with pytest.raises(SnapshotError, match="no snapshot"):
        CatalogIndex.load(tmp_path)
    _build(small_catalog).snapshot(tmp_path)
    current = tmp_path / (tmp_path / "CURRENT").read_text().strip()
    (current / "offsets.npy").write_bytes(b"truncated")
    with pytest.raises(SnapshotError):
        CatalogIndex.load(tmp_path)


def test_filters_return_k_when_enough_tracks_qualify(clustered):
    index = _build(clustered, exact_max=1000)  # IVF: filtering must widen the probes
    query = make_query(clustered, 42)
    filters = SearchFilters(licenses={"cc-by"}, tags_all={"tag-01"}, bpm_min=70, bpm_max=170)
    qualifying = [
        i
        for i, m in enumerate(clustered.metadata)
        if m.license == "cc-by" and "tag-01" in m.tags and 70 <= m.bpm <= 170
    ]
    assert 10 < len(qualifying) < 100  # selective: about 1% of the catalog
    hits = index.search(
        query, 10, "best_trace", shortlist=10, filters=filters, with_alignment=False
    )
    assert len(hits) == 10
    for hit in hits:
        meta = index.metadata(hit.track_id)
        assert meta.license == "cc-by" and "tag-01" in meta.tags and 70 <= meta.bpm <= 170
    everything = index.search(
        query, 500, "trace", shortlist=500, filters=filters, with_alignment=False
    )
    assert sorted(h.track_id for h in everything) == sorted(
        int(clustered.track_ids[i]) for i in qualifying
    )
    excluded = SearchFilters(exclude_artists={index.metadata(hits[0].track_id).artist})
    assert hits[0].track_id not in {
        h.track_id for h in index.search(query, 10, "trace", filters=excluded, with_alignment=False)
    }


def test_search_errors(small_catalog, queries):
    index = _build(small_catalog)
    with pytest.raises(InvalidSearchError):
        index.search(queries[0], 0)
    with pytest.raises(InvalidSearchError):
        index.search(queries[0], 5, shortlist=-1)
    with pytest.raises(InvalidSearchError):
        index.search(queries[0], 5, method="dtw")
    with pytest.raises(DimensionMismatchError):
        index.search(np.ones((3, 8)), 5)
    with pytest.raises(InvalidEmbeddingsError):
        index.search(np.zeros((3, 16)), 5)
    with pytest.raises(InvalidEmbeddingsError):
        index.search(np.ones(16), 5)
    with pytest.raises(DimensionMismatchError):
        index.add_track(10_000, np.ones((3, 8)))
    with pytest.raises(InvalidEmbeddingsError):
        index.add_track(10_000, np.full((3, 16), np.nan))
    assert len(index) == 400 and 10_000 not in index
    assert CatalogIndex(16).search(queries[0], 5, with_alignment=False) == []


def test_concurrent_searches_and_updates(small_catalog, queries):
    index = _build(small_catalog)
    expected = _results(index, queries[:3], "best_trace")
    errors: list[BaseException] = []
    stable = set(small_catalog.track_ids[:200].tolist())

    def searcher() -> None:
        try:
            for _ in range(15):
                got = _results(index, queries[:3], "best_trace")
                # Tracks 201..400 come and go; the others are always there.
                for want, have in zip(expected, got):
                    assert [t for t in have if t in stable][:3] == [t for t in want if t in stable][
                        :3
                    ] or len(have) == 10
        except BaseException as exc:  # noqa: BLE001  (re-raised in the main thread)
            errors.append(exc)

    def writer() -> None:
        try:
            for i in range(200, 400, 5):
                index.remove_track(small_catalog.track_ids[i])
                index.add_track(small_catalog.track_ids[i], small_catalog.segments(i))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=searcher) for _ in range(3)] + [
        threading.Thread(target=writer)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors[0]
    assert len(index) == 400
    assert _results(index, queries[:3], "best_trace") == expected


@pytest.mark.parametrize("method", FAST_METHODS)
def test_top_hits_carry_their_alignment(small_catalog, method):
    index = _build(small_catalog)
    query = make_query(small_catalog, 77, n_segments=4, seed=3)
    hits = index.search(query, 3, method, shortlist=100)
    unit = _unit(query).astype(np.float32)
    for hit in hits:
        segments = _unit(small_catalog.segments(hit.track_id - 1)).astype(np.float32)
        expected = align(unit, segments, method)
        assert hit.alignment.method == method
        assert hit.alignment.distance == pytest.approx(hit.distance, abs=1e-4)
        np.testing.assert_array_equal(hit.alignment.pairs, expected.pairs)
        assert hit.alignment.offset == expected.offset
        assert hit.alignment.track_span == expected.track_span
    if method == "best_trace":  # the query is an excerpt of track 78: found where it lies
        assert hits[0].track_id == 78 and hits[0].alignment.offset >= 0


def test_a_ranking_cost_without_alignment_takes_another_costs(small_catalog):
    """Ranked by the centroid, each hit is placed by the best diagonal: the service's
    default (app.services.costs.alignment_method)."""
    from app.services.costs import alignment_method

    index = _build(small_catalog)
    query = make_query(small_catalog, 77, n_segments=4, seed=3)
    placement = alignment_method("centroid")
    ranked = index.search(query, 3, "centroid", shortlist=100)
    placed = index.search(query, 3, "centroid", shortlist=100, alignment_method=placement)
    assert [h.track_id for h in placed] == [h.track_id for h in ranked]
    assert [h.distance for h in placed] == [h.distance for h in ranked]
    assert all(h.alignment.pairs.size == 0 for h in ranked)  # the centroid aligns nothing
    unit = _unit(query).astype(np.float32)
    for hit in placed:
        segments = _unit(small_catalog.segments(hit.track_id - 1)).astype(np.float32)
        expected = align(unit, segments, placement)
        assert hit.alignment.method == placement == "best_trace_mean"
        np.testing.assert_array_equal(hit.alignment.pairs, expected.pairs)
        assert hit.alignment.offset == expected.offset
    assert alignment_method("nw_dtw") == "nw_dtw"
