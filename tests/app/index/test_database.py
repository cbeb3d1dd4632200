"""Rebuilding the index from the database and replaying the change log.

Runs on the embedded SQLite default and on a real PostgreSQL server (the suite's
``database_url`` fixture).
"""

from __future__ import annotations

import numpy as np
import pytest

from app.db.arrays import to_blob
from app.db.models import Base, IndexChange, Model, Track, TrackEmbedding, TrackStatus
from app.db.session import get_engine, session_scope
from app.index.catalog import CatalogIndex
from app.index.errors import UnknownModelError
from app.index.metadata import SearchFilters
from bench.synthetic_catalog import make_query

DIM = 16


@pytest.fixture
def db(database_url, small_catalog):
    """A database with two models; the first 300 synthetic tracks are ready under model 1."""
    Base.metadata.create_all(get_engine(database_url))
    with session_scope(database_url) as s:
        for name, dim in (("m1", DIM), ("m2", 8)):
            s.add(Model(name=name, kind="segvmnet", dim=dim, path="-", checksum="-"))
    _ingest(database_url, small_catalog, *range(300))
    return database_url


def _ingest(url, catalog, *indices, model_id=1, status=TrackStatus.ready):
    """What the ingest worker does: embeddings, status and log entry in one transaction."""
    with session_scope(url) as s:
        for i in indices:
            _ingest_one(s, catalog, i, model_id, status)


def _ingest_one(s, catalog, i, model_id, status):
    meta, segments = catalog.metadata[i], catalog.segments(i)
    track = s.get(Track, int(catalog.track_ids[i]))
    if track is None:
        track = Track(id=int(catalog.track_ids[i]), content_hash=f"h{i}", media_key=f"k{i}")
        s.add(track)
    track.license, track.artist, track.tags = meta.license, meta.artist, list(meta.tags)
    track.bpm, track.duration_s, track.status = meta.bpm, meta.duration_s, status
    s.flush()
    s.query(TrackEmbedding).filter_by(track_id=track.id, model_id=model_id).delete()
    s.add(
        TrackEmbedding(
            track_id=track.id,
            model_id=model_id,
            n_segments=len(segments),
            dim=DIM,
            vectors=to_blob(segments),
            centroid=to_blob(segments.mean(axis=0)),
        )
    )
    if status == TrackStatus.ready:
        s.add(IndexChange(model_id=model_id, track_id=track.id, op="add"))


def _delete(url, track_id, model_id=1):
    with session_scope(url) as s:
        s.delete(s.get(Track, int(track_id)))
        s.add(IndexChange(model_id=model_id, track_id=int(track_id), op="remove"))


def _results(index, queries):
    return [
        [
            (h.track_id, round(h.distance, 5))
            for h in index.search(q, 10, "best_trace", with_alignment=False)
        ]
        for q in queries
    ]


def _queries(catalog):
    return [make_query(catalog, i, n_segments=4, seed=i) for i in range(0, 400, 37)]


def test_rebuild_reads_ready_tracks_with_their_metadata(db, small_catalog):
    _ingest(db, small_catalog, 300, status=TrackStatus.processing)  # not searchable yet
    with session_scope(db) as s:
        index = CatalogIndex.from_db(s, 1, device="cpu")
    assert len(index) == 300 and index.model_id == 1 and index.watermark == 300
    assert 301 not in index
    assert index.metadata(5) == small_catalog.metadata[4]
    fresh = CatalogIndex(DIM, device="cpu")
    cat = small_catalog
    fresh.add_tracks(
        cat.track_ids[:300], cat.vectors[: cat.offsets[300]], cat.offsets[:301], cat.metadata[:300]
    )
    assert _results(index, _queries(cat)) == _results(fresh, _queries(cat))


def test_sync_replays_changes_after_the_watermark(db, small_catalog, tmp_path):
    with session_scope(db) as s:
        index = CatalogIndex.from_db(s, 1, device="cpu")
    index.snapshot(tmp_path)
    _ingest(db, small_catalog, *range(300, 340))
    for track_id in (1, 2, 3):
        _delete(db, track_id)
    _ingest(db, small_catalog, 10)  # re-ingested: new embeddings replace the old ones
    _ingest(db, small_catalog, 350, model_id=2)  # another model's log is not ours
    with session_scope(db) as s:
        assert index.sync_from_db(s) == 44
        assert index.sync_from_db(s) == 0  # idempotent: nothing new
        rebuilt = CatalogIndex.from_db(s, 1, device="cpu")
        reloaded = CatalogIndex.load(tmp_path, device="cpu")  # an API process restarting
        assert reloaded.watermark == 300
        assert reloaded.sync_from_db(s) == 44
    for other in (rebuilt, reloaded):
        np.testing.assert_array_equal(index.track_ids(), other.track_ids())
        assert index.watermark == other.watermark
        assert _results(index, _queries(small_catalog)) == _results(other, _queries(small_catalog))
    assert 1 not in index and 340 in index and 351 not in index
    f = SearchFilters(licenses={"cc-by"})
    assert [
        h.track_id
        for h in index.search(_queries(small_catalog)[0], 5, filters=f, with_alignment=False)
    ] == [
        h.track_id
        for h in rebuilt.search(_queries(small_catalog)[0], 5, filters=f, with_alignment=False)
    ]


def test_lookback_catches_a_change_committed_below_the_watermark(db, small_catalog):
    with session_scope(db) as s:
        index = CatalogIndex.from_db(s, 1, device="cpu")
    # A change with a lower id than the watermark, committed late (as a PostgreSQL
    # transaction holding an earlier sequence value can).
    _ingest(db, small_catalog, 360)
    with session_scope(db) as s:
        s.query(IndexChange).filter_by(id=250).delete()  # an applied change: id reusable
        s.query(IndexChange).filter_by(track_id=361).update({"id": 250})
    with session_scope(db) as s:
        assert index.sync_from_db(s) == 0  # no change above the watermark...
    assert 361 in index  # ...but the lookback window restored the missed track


def test_unknown_model(db):
    with session_scope(db) as s:
        with pytest.raises(UnknownModelError):
            CatalogIndex.from_db(s, 99)
        with pytest.raises(UnknownModelError):
            CatalogIndex(DIM).sync_from_db(s)
