"""The index interface, run against both backends: FAISS in-process and Milvus Lite.

Milvus Lite is the real embedded engine (a local file, started by the client); the
same client code talks to a Milvus server in deployment.
"""

from __future__ import annotations

import numpy as np
import pytest

from app.db.models import Base, Model, TrackStatus
from app.db.session import get_engine, session_scope
from app.index.backend import IndexBackend
from app.index.catalog import CatalogIndex
from app.index.errors import (
    DimensionMismatchError,
    InvalidEmbeddingsError,
    InvalidSearchError,
    UnknownModelError,
)
from app.index.metadata import SearchFilters, TrackMetadata
from app.index.milvus import MilvusCatalogIndex, decode_segments, encode_segments, milvus_filter
from app.services.ingest import store_embeddings
from bench.synthetic_catalog import make_query
from ml.features.tags import VOCALS_THRESHOLD
from ml.ranking import PackedSegments, reference
from tests.app.index.test_database import DIM, _delete, _ingest

BACKENDS = ("faiss", "milvus")


@pytest.fixture(params=BACKENDS)
def make_index(request, tmp_path):
    """``make(dim, model_id=None) -> IndexBackend``: an empty index of that backend."""
    made: list[IndexBackend] = []

    def make(dim: int, model_id: int | None = None) -> IndexBackend:
        if request.param == "faiss":
            index = CatalogIndex(dim, model_id=model_id, device="cpu")
        else:
            index = MilvusCatalogIndex(
                str(tmp_path / "milvus.db"),
                dim,
                model_id=model_id,
                collection=f"c{len(made)}",
            )
        made.append(index)
        return index

    yield make
    for index in made:
        if isinstance(index, MilvusCatalogIndex):
            index.close()


def _filled(make, catalog) -> IndexBackend:
    index = make(catalog.vectors.shape[1])
    index.add_tracks(catalog.track_ids, catalog.vectors, catalog.offsets, catalog.metadata)
    return index


def _results(index, queries, method="nw_dtw", **kwargs):
    return [
        [
            (h.track_id, round(h.distance, 5))
            for h in index.search(q, 10, method, with_alignment=False, **kwargs)
        ]
        for q in queries
    ]


def _unit(x):
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("method", ["trace", "nw_dtw"])
def test_exhaustive_shortlist_equals_reference_ranking(make_index, small_catalog, queries, method):
    index = _filled(make_index, small_catalog)
    hits = index.search(queries[1], 5, method, shortlist=400, with_alignment=False)
    expected = sorted(
        reference.reference_distance(_unit(queries[1]), _unit(small_catalog.segments(i)), method)
        for i in range(400)
    )[:5]
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5]
    assert [h.distance for h in hits] == pytest.approx(expected, abs=1e-4)


def test_the_source_track_ranks_first_with_its_alignment(make_index, small_catalog):
    index = _filled(make_index, small_catalog)
    for i in (3, 150, 321):
        query = make_query(small_catalog, i, n_segments=20, query_spread=0.2, seed=i)
        hits = index.search(query, 3, "best_trace", shortlist=50)
        assert hits[0].track_id == small_catalog.track_ids[i]
        assert hits[0].alignment.distance == pytest.approx(hits[0].distance, abs=1e-4)


def test_both_backends_give_the_same_answers(tmp_path, small_catalog, queries):
    faiss = CatalogIndex(DIM, device="cpu")
    milvus = MilvusCatalogIndex(str(tmp_path / "m.db"), DIM, collection="same")
    for index in (faiss, milvus):
        index.add_tracks(
            small_catalog.track_ids, small_catalog.vectors, small_catalog.offsets,
            small_catalog.metadata,
        )  # fmt: skip
    filters = SearchFilters(licenses={"CC-BY", "library-a"}, tags_any={"tag-03"}, bpm_min=80)
    for kwargs in ({}, {"filters": filters}, {"shortlist": 30}):
        assert _results(milvus, queries, **kwargs) == _results(faiss, queries, **kwargs)
    assert milvus.metadata(7) == faiss.metadata(7)
    milvus.close()


def test_updates_and_removals(make_index, small_catalog, queries):
    cat = small_catalog
    index = _filled(make_index, cat)
    gone = cat.track_ids[::3]
    assert index.remove_tracks(gone) == len(gone)
    assert index.remove_tracks(gone[:5]) == 0  # idempotent
    index.add_track(cat.track_ids[1], cat.segments(1), cat.metadata[1])  # present: replaced
    keep = np.flatnonzero(~np.isin(cat.track_ids, gone))
    np.testing.assert_array_equal(index.track_ids(), cat.track_ids[keep])
    assert len(index) == len(keep) and int(cat.track_ids[1]) in index
    assert int(gone[0]) not in index
    for hits in _results(index, queries):
        assert not set(t for t, _ in hits) & set(gone.tolist())
    track_id = int(cat.track_ids[2])
    index.add_track(track_id, queries[3], TrackMetadata(license="X", bpm=99, tags=("A b",)))
    assert index.metadata(track_id) == TrackMetadata(license="x", bpm=99.0, tags=("a b",))
    assert index.search(queries[3], 1, "trace", with_alignment=False)[0].track_id == track_id
    with pytest.raises(KeyError):
        index.metadata(int(gone[0]))


def test_filters_run_inside_the_engine(make_index, clustered, tmp_path):
    catalog = clustered
    index = _filled(make_index, catalog)
    index.snapshot(tmp_path / "snapshot")  # Milvus: flushed, the graph built on its segment
    query = make_query(catalog, 42)
    filters = SearchFilters(licenses={"cc-by"}, tags_all={"tag-01"}, bpm_min=70, bpm_max=170)
    qualifying = [
        int(catalog.track_ids[i])
        for i, m in enumerate(catalog.metadata)
        if m.license == "cc-by" and "tag-01" in m.tags and 70 <= m.bpm <= 170
    ]
    assert 10 < len(qualifying) < 100  # about 1% of the catalog
    hits = index.search(query, 10, "best_trace", shortlist=10, filters=filters)
    assert len(hits) == 10 and {h.track_id for h in hits} <= set(qualifying)
    everything = index.search(query, 500, "trace", shortlist=500, filters=filters)
    assert sorted(h.track_id for h in everything) == sorted(qualifying)
    # At the default shortlist too, from anywhere in the catalog: a graph searched under
    # so selective a filter misses passing tracks; the search within it is exact.
    for source in range(0, 6000, 600):
        query = make_query(catalog, source, n_segments=10, seed=source)
        hits = index.search(query, 100, "trace", filters=filters, with_alignment=False)
        assert sorted(h.track_id for h in hits) == sorted(qualifying)
    artist = index.metadata(hits[0].track_id).artist
    excluded = index.search(query, 10, "trace", filters=SearchFilters(exclude_artists={artist}))
    assert all(index.metadata(h.track_id).artist != artist for h in excluded)
    nothing = SearchFilters(licenses={"no-such-licence"})
    assert index.search(query, 10, filters=nothing) == []


def test_automatic_tags_filter_and_steer(make_index, small_catalog, queries):
    index = make_index(DIM)
    vocal = (("female vocal", 0.6), ("no vocals", 0.1), ("mellow", 0.4))
    instrumental = (("female vocal", 0.05), ("no vocals", 0.7), ("mellow", 0.1))
    for i in range(40):
        auto = vocal if i % 2 else instrumental
        index.add_track(i + 1, small_catalog.segments(i), TrackMetadata(auto_tags=auto))
    index.add_track(100, small_catalog.segments(50), TrackMetadata())  # untagged
    sung = index.search(queries[0], 40, "trace", filters=SearchFilters(vocals=True))
    assert sorted(h.track_id for h in sung) == list(range(2, 41, 2))
    unsung = index.search(queries[0], 40, "trace", filters=SearchFilters(vocals=False))
    assert sorted(h.track_id for h in unsung) == list(range(1, 41, 2))
    mellow = index.search(queries[0], 40, "trace", filters=SearchFilters(auto_tags={"Mellow"}))
    assert {h.track_id for h in mellow} == set(range(2, 41, 2))
    steered = index.search(queries[0], 5, "trace", prefer=("mellow",), with_alignment=False)
    plain = index.search(queries[0], 5, "trace", with_alignment=False)
    assert [h.track_id for h in steered] != [h.track_id for h in plain]


def test_bad_input_is_refused_and_changes_nothing(make_index, small_catalog, queries):
    index = _filled(make_index, small_catalog)
    with pytest.raises(InvalidSearchError):
        index.search(queries[0], 0)
    with pytest.raises(InvalidSearchError):
        index.search(queries[0], 5, method="dtw")
    with pytest.raises(DimensionMismatchError):
        index.search(np.ones((3, 8)), 5)
    with pytest.raises(InvalidEmbeddingsError):
        index.search(np.zeros((3, DIM)), 5)
    with pytest.raises(DimensionMismatchError):
        index.add_track(10_000, np.ones((3, 8)))
    with pytest.raises(InvalidEmbeddingsError):
        index.add_tracks([10_000, 10_001], np.ones((4, DIM)), [0, 2, 4], [])  # metadata
    with pytest.raises(InvalidEmbeddingsError):
        index.add_tracks(
            [10_000, 10_001], np.vstack([np.ones((2, DIM)), np.full((2, DIM), np.nan)]), [0, 2, 4]
        )
    assert len(index) == 400 and 10_000 not in index
    assert make_index(DIM).search(queries[0], 5, with_alignment=False) == []


@pytest.fixture
def db(sqlite_url, small_catalog):
    """SQLite with two models; the first 300 synthetic tracks are ready under model 1."""
    Base.metadata.create_all(get_engine(sqlite_url))
    with session_scope(sqlite_url) as s:
        for name, dim in (("m1", DIM), ("m2", 8)):
            s.add(Model(name=name, kind="segvmnet", dim=dim, path="-", checksum="-"))
    _ingest(sqlite_url, small_catalog, *range(300))
    return sqlite_url


def test_rebuild_and_change_log_replay(make_index, db, small_catalog, queries):
    index = make_index(DIM, model_id=1)
    with session_scope(db) as s:
        assert index.rebuild_from_db(s, 1) == 300
        assert index.sync_from_db(s) == 0  # the watermark was read with the rows
    assert index.watermark == 300 and len(index) == 300
    _ingest(db, small_catalog, 300, 301)
    _ingest(db, small_catalog, 302, status=TrackStatus.processing)  # not searchable
    _ingest(db, small_catalog, 5)  # re-ingested: replaced, logged again
    _delete(db, small_catalog.track_ids[7])
    with session_scope(db) as s:
        assert index.sync_from_db(s) == 4
        assert index.sync_from_db(s) == 0  # idempotent
    ids = set(index.track_ids().tolist())
    assert {301, 302} <= ids and 303 not in ids and 8 not in ids and len(ids) == 301
    # A rebuild from the database gives the same index.
    fresh = make_index(DIM, model_id=1)
    with session_scope(db) as s:
        fresh.rebuild_from_db(s, 1)
        with pytest.raises(UnknownModelError):
            fresh.rebuild_from_db(s, 99)
    assert _results(fresh, queries) == _results(index, queries)
    assert fresh.watermark == index.watermark


def test_a_milvus_collection_is_shared_and_survives_the_process(tmp_path, db, queries):
    uri = str(tmp_path / "shared.db")
    with session_scope(db) as s:
        first = MilvusCatalogIndex.from_db(uri, s, 1)
        assert len(first) == 300
        _delete(db, 3)
        assert first.sync_from_db(s) == 1
        expected, watermark = _results(first, queries), first.watermark
    first.close()
    with session_scope(db) as s:
        again = MilvusCatalogIndex.from_db(uri, s, 1)  # taken as it is, no rebuild
        assert again.watermark == watermark and again.sync_from_db(s) == 0
    assert _results(again, queries) == expected and 3 not in again
    with pytest.raises(DimensionMismatchError):
        MilvusCatalogIndex(uri, 8, model_id=1)  # the collection holds dimension 16
    again.close()


def test_a_milvus_replica_drops_its_hub_radii_when_another_process_changes_a_track(
    tmp_path, db, small_catalog, queries
):
    uri = str(tmp_path / "shared.db")
    rng = np.random.default_rng(5)
    bank = PackedSegments.from_sequences(
        [_unit(rng.standard_normal((3, DIM))).astype(np.float32) for _ in range(20)]
    )
    with session_scope(db) as s:
        reader = MilvusCatalogIndex.from_db(uri, s, 1)  # an API replica
        writer = MilvusCatalogIndex(uri, DIM, model_id=1)  # the worker publishing
    top = reader.search(queries[0], 5, "nw_dtw", bank=bank, with_alignment=False)[0].track_id
    segments = small_catalog.segments(int(np.flatnonzero(small_catalog.track_ids == top)[0]))
    half = segments[: len(segments) // 2]
    with session_scope(db) as s:  # re-ingested under the same id, its first half only
        store_embeddings(s, top, 1, half)
    with session_scope(db) as s:
        assert writer.sync_from_db(s) == 1 and reader.sync_from_db(s) == 0
    fresh = MilvusCatalogIndex(uri, DIM, model_id=1)  # radii computed on the new segments
    asked = [half, *queries]  # the first still finds the changed track
    assert top in {h.track_id for h in fresh.search(half, 3, "nw_dtw", with_alignment=False)}
    assert _results_csls(reader, asked, bank) == _results_csls(fresh, asked, bank)
    for index in (reader, writer, fresh):
        index.close()


def _results_csls(index, queries, bank):
    return [
        [
            (h.track_id, round(h.score, 5))  # the score is corrected by the radius
            for h in index.search(q, 10, "nw_dtw", bank=bank, with_alignment=False)
        ]
        for q in queries
    ]


def test_milvus_filter_expressions_and_segment_codec():
    assert milvus_filter(None) == "" and milvus_filter(SearchFilters()) == ""
    expression = milvus_filter(
        SearchFilters(licenses={'say "hi"\\'}, bpm_max=120, vocals=False, auto_tags={"a"})
    )
    assert expression == (
        'license in ["say \\"hi\\"\\\\"] and (bpm >= 0 and bpm <= 120.0) and '
        f"(vocal_score >= 0 and vocal_score < {VOCALS_THRESHOLD!r}) and "
        'auto_tags["a"] >= 0.2'
    )
    rows = _unit(np.random.default_rng(0).standard_normal((5, 12))).astype(np.float32)
    np.testing.assert_array_equal(decode_segments(encode_segments(rows, "float32"), 12), rows)
    half = decode_segments(encode_segments(rows, "float16"), 12)
    np.testing.assert_allclose(half, rows, atol=1e-3)
    with pytest.raises(ValueError):
        decode_segments(encode_segments(rows, "float32"), 7)
