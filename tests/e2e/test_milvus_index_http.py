"""The service with its index in Milvus (``V2M_INDEX_URL``: a Milvus Lite file), through
HTTP: ingest, recommend with filters, delete, and a rebuild from the database.

The ingest jobs and the delete route publish each change to the collection as they
commit it: a fresh handle on the collection (another replica) holds the catalog before
any search has run, with nothing left to replay. A service started on an empty
collection fills it from the database (the system of record) and answers the same.
"""

from __future__ import annotations

import pytest

from app.db.models import Model
from app.db.session import session_scope
from app.index.database import latest_change_id
from app.index.milvus import MilvusCatalogIndex

N_TRACKS = 6


def _replica(settings, url: str) -> MilvusCatalogIndex:
    """Another process's handle on the model's collection, checked against the log."""
    with session_scope(settings.sqlalchemy_url) as db:
        model = db.query(Model).one()
        index = MilvusCatalogIndex(url, model.dim, model_id=model.id)
        assert index.watermark == latest_change_id(db, model.id)  # published: nothing to replay
    return index


@pytest.mark.slow
def test_ingest_recommend_delete_rebuild_on_milvus(make_service, driver, tmp_path) -> None:
    url = str(tmp_path / "milvus" / "index.db")
    settings = make_service.settings(index_url=url)
    client = make_service(index_url=url)
    ids = driver.clip_ids()[:N_TRACKS]
    tracks = driver.ingest(client, ids)  # clip i: artist-(i % 3), tag group-(i % 2)
    assert sorted(_replica(settings, url).track_ids()) == sorted(tracks.values())

    query, cuts = ids[3], driver.music_cuts(ids[3])
    body = driver.recommend(client, query, k=N_TRACKS, boundaries=cuts)
    ranked = [r["track_id"] for r in body["results"]]
    assert tracks[query] in ranked[:3] and sorted(ranked) == sorted(tracks.values())
    group = driver.recommend(client, query, k=N_TRACKS, boundaries=cuts, tag="group-1")
    assert {r["track_id"] for r in group["results"]} == {tracks[ids[i]] for i in (1, 3, 5)}
    other = driver.recommend(
        client, query, k=N_TRACKS, boundaries=cuts, tag="group-1", exclude_artist="artist-0"
    )
    assert {r["track_id"] for r in other["results"]} == {tracks[ids[i]] for i in (1, 5)}

    victim = ranked[0]
    assert client.delete(f"/catalog/tracks/{victim}").json()["deleted"] is True
    assert victim not in _replica(settings, url)
    after = driver.recommend(client, query, k=N_TRACKS, boundaries=cuts)
    kept = [r["track_id"] for r in after["results"]]
    assert victim not in kept and len(kept) == N_TRACKS - 1
    make_service.stop_all()
    assert not list(settings.index_dir.glob("model-*"))  # no local snapshot was written

    # The index lost (an empty Milvus): the next service rebuilds it from the database.
    fresh = str(tmp_path / "milvus-new" / "index.db")
    client = make_service.start(make_service.settings(index_url=fresh))
    rebuilt = driver.recommend(client, query, k=N_TRACKS, boundaries=cuts)
    assert [r["track_id"] for r in rebuilt["results"]] == kept
    assert sorted(_replica(settings, fresh).track_ids()) == sorted(kept)
