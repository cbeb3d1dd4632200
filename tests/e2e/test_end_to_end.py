"""The whole service through HTTP: ingest, recommend, similar, delete.

Once on the embedded default (SQLite, in-process jobs) and once on the deployed
shape (PostgreSQL, Redis, a Celery worker process), with the real API under
uvicorn on a loopback port.
"""

from __future__ import annotations

import pytest

from app.services.costs import DEFAULT_METHOD
from ml.sync.structure import STRUCTURE_WEIGHT

N_TRACKS = 12


def scenario(client, driver) -> None:
    ids = driver.clip_ids()[:N_TRACKS]
    tracks = driver.ingest(client, ids)

    # Ingesting the same content again returns the existing track.
    again = driver.upload(client, ids[0])
    assert again["track_id"] == tracks[ids[0]] and again["duplicate"] is True
    listing = client.get("/catalog/tracks", params={"status": "ready", "limit": 100}).json()
    assert listing["total"] == N_TRACKS

    query = ids[3]
    # Cut where the editor cut (the clip's music segments, given as sync points):
    # the tiny model fits its training pairs, so the clip's own music must come back.
    body = driver.recommend(client, query, k=5, boundaries=driver.music_cuts(query))
    ranked = [r["track_id"] for r in body["results"]]
    assert tracks[query] in ranked[:3], body["results"]
    assert body["query"]["segmentation"] == "user"
    shots = driver.recommend(client, query, k=5)  # and cut by its shots (TransNetV2)
    assert shots["query"]["segmentation"] == "shots" and len(shots["results"]) == 5
    assert len(ranked) == 5 and body["catalog_size"] == N_TRACKS
    top = body["results"][0]
    assert {"track_id", "rank", "score", "title", "artist", "alignment", "excerpt"} <= set(top)
    assert 0 <= top["excerpt"]["start_s"] < top["excerpt"]["end_s"]
    assert body["query"]["segments"] and body["timings_s"]["total"] > 0
    # The served default: the default cost corrected for hubness against the training
    # videos, each result with its 0-100 match and its synchronisation with the cuts.
    assert (body["method"], body["hubness"]) == (DEFAULT_METHOD, "csls")
    assert all(0.0 <= r["match"] <= 100.0 for r in body["results"])
    assert "score" in top["sync"] and isinstance(top["sync"]["events"], list)
    # The model's fitted weight of the cuts-on-beats evidence is served by default; without
    # the evidence and the correction, the raw cost orders the results.
    assert body["sync_weight"] >= 0.0 and body["structure_weight"] == STRUCTURE_WEIGHT
    raw = driver.recommend(
        client, query, k=5, hubness="none", sync="false", boundaries=driver.music_cuts(query)
    )
    # The same video with the same cut points was analysed once: only the ranking is redone.
    assert not body["query"]["reused"] and raw["query"]["reused"]
    assert shots["query"]["reused"] is False
    assert (raw["hubness"], raw["sync_weight"], raw["structure_weight"]) == ("none", 0.0, 0.0)
    assert sorted(r["distance"] for r in raw["results"]) == [r["distance"] for r in raw["results"]]

    similar = client.post("/similar/track", params={"track_id": tracks[query], "k": 4}).json()
    assert len(similar["results"]) == 4
    assert tracks[query] not in [r["track_id"] for r in similar["results"]]

    victim = ranked[0]
    assert client.delete(f"/catalog/tracks/{victim}").json()["deleted"] is True
    assert client.get(f"/catalog/tracks/{victim}").status_code == 404
    after = driver.recommend(client, query, k=N_TRACKS)
    assert victim not in [r["track_id"] for r in after["results"]]
    assert len(after["results"]) == N_TRACKS - 1


@pytest.mark.slow
def test_embedded_default(make_service, driver) -> None:
    scenario(make_service(), driver)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
def test_postgres_redis_and_a_celery_worker(
    make_service, driver, celery_worker, postgres_url, redis_server
) -> None:
    broker = f"{redis_server}/1"
    celery_worker(postgres_url, broker)
    scenario(make_service(postgres_url, broker), driver)


@pytest.mark.slow
def test_activating_another_model_reembeds_then_switches(
    make_service, driver, tiny_demo, tmp_path, eventually
) -> None:
    from app.db.session import session_scope
    from app.services.models import register_model
    from ml.export import export_checkpoint
    from ml.training.trainer import BEST_CHECKPOINT

    client = make_service()
    ids = driver.clip_ids()[:3]
    tracks = driver.ingest(client, ids)
    other = export_checkpoint(
        tiny_demo / "training" / BEST_CHECKPOINT, tmp_path / "other", name="tiny-again"
    ).parent
    settings = make_service.settings()
    with session_scope(settings.sqlalchemy_url) as db:
        model_id = register_model(db, other, settings.model_dir).id
    answer = client.post(f"/models/{model_id}/activate")
    assert answer.status_code == 202
    job_url = answer.json()["job_url"]
    eventually(lambda: client.get(job_url).json()["status"] in ("succeeded", "failed"), 300)
    job = client.get(job_url).json()
    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["from_cache"] == 3 and job["result"]["activated"]
    active = [m["name"] for m in client.get("/models").json()["models"] if m["active"]]
    assert active == ["tiny-again"]
    body = driver.recommend(client, ids[1], k=3)
    assert sorted(r["track_id"] for r in body["results"]) == sorted(tracks.values())
    assert body["model"] == "tiny-again"
