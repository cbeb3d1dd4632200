"""End to end on Milvus Lite through the service layer: tracks ingested by the ingest
service's writes, published by the writer, recommended with filters by another
process's holder, deleted by the catalog service, and rebuilt from the database."""

from __future__ import annotations

import pytest

from app.db.models import Base, Model, Track, TrackStatus
from app.db.session import get_engine, session_scope
from app.index.metadata import SearchFilters
from app.index.milvus import MilvusCatalogIndex
from app.services.catalog import delete_track
from app.services.ingest import store_embeddings
from app.services.search_index import SearchIndexHolder, publish_changes
from app.settings import Settings
from bench.synthetic_catalog import clustered_catalog, make_query


def _ingest(db, catalog, i: int) -> None:
    """What the ingest worker commits: the track ready, its embeddings, the log entry."""
    meta = catalog.metadata[i]
    track = Track(
        id=int(catalog.track_ids[i]), content_hash=f"h{i}", media_key=f"k{i}",
        license=meta.license, artist=meta.artist, tags=list(meta.tags), bpm=meta.bpm,
        duration_s=meta.duration_s, status=TrackStatus.ready,
    )  # fmt: skip
    db.add(track)
    db.flush()
    store_embeddings(db, track.id, 1, catalog.segments(i))


def test_ingest_recommend_delete_rebuild_on_milvus_lite(tmp_path, sqlite_url):
    small_catalog = clustered_catalog(200, 16, segments=(3, 9), n_clusters=8, seed=11)
    Base.metadata.create_all(get_engine(sqlite_url))
    url = str(tmp_path / "index.db")
    with session_scope(sqlite_url) as db:
        db.add(Model(name="m", kind="segvmnet", dim=16, path="-", checksum="-"))
    with session_scope(sqlite_url) as db:
        for i in range(200):
            _ingest(db, small_catalog, i)
    settings = Settings(data_dir=tmp_path, index_url=url)
    with session_scope(sqlite_url) as db:
        model = db.get(Model, 1)
        publish_changes(settings, db, [1])  # the worker's last step: the collection is current
        publish_changes(settings, db, [1])  # a redelivered job's: nothing changes
        replica = MilvusCatalogIndex(url, 16, model_id=1)  # another process's handle
        assert len(replica) == 200 and replica.sync_from_db(db) == 0  # nothing to replay
        index = SearchIndexHolder(tmp_path, url).for_model(db, model)
        assert isinstance(index, MilvusCatalogIndex) and len(index) == 200
        assert not any(tmp_path.glob("model-*"))  # no local snapshot
        query = make_query(small_catalog, 17, n_segments=6, query_spread=0.2, seed=1)
        assert index.search(query, 5, "best_trace")[0].track_id == 18
        filters = SearchFilters(licenses={small_catalog.metadata[17].license}, bpm_min=60)
        hits = index.search(query, 5, "best_trace", filters=filters)
        assert hits and all(
            index.metadata(h.track_id).license == small_catalog.metadata[17].license
            and index.metadata(h.track_id).bpm >= 60
            for h in hits
        )
        deleted = delete_track(db, db.get(Track, 18))
        assert deleted.model_ids == [1]
    with session_scope(sqlite_url) as db:
        publish_changes(settings, db, deleted.model_ids)
        assert 18 not in replica and len(replica) == 199 and replica.watermark == index.watermark
        assert 18 not in {h.track_id for h in index.search(query, 5, "best_trace")}
        before = [h.track_id for h in index.search(query, 10, "nw_dtw", filters=filters)]
        assert index.rebuild_from_db(db, 1) == 199
        assert [h.track_id for h in index.search(query, 10, "nw_dtw", filters=filters)] == before
    with pytest.raises(Exception, match="dimension"):
        MilvusCatalogIndex(url, 32, model_id=1)
