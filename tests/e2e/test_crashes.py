"""Crashes: a worker killed mid-job and a restarted API lose nothing and answer the same."""

from __future__ import annotations

import os
import signal

import pytest
from sqlalchemy import func, select

from app.db.models import Track, TrackEmbedding
from app.db.session import session_scope


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
def test_worker_killed_mid_ingest_then_another_finishes_it(
    make_service, driver, celery_worker, postgres_url, redis_server, eventually, monkeypatch
) -> None:
    broker = f"{redis_server}/2"
    # Redelivery of an unacknowledged job after 5 s instead of an hour.
    monkeypatch.setenv("V2M_BROKER_VISIBILITY_TIMEOUT_S", "5")
    first = celery_worker(postgres_url, broker, name="doomed")
    client = make_service(postgres_url, broker)
    clip = driver.clip_ids()[0]
    answer = driver.upload(client, clip)
    job_url = f"/jobs/{answer['job_id']}"
    eventually(lambda: client.get(job_url).json()["status"] == "running", 120)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    assert client.get(f"/catalog/tracks/{answer['track_id']}").json()["status"] != "ready"

    celery_worker(postgres_url, broker, name="rescuer")
    eventually(lambda: client.get(job_url).json()["status"] == "succeeded", 300)
    with session_scope(postgres_url) as db:
        assert db.scalar(select(func.count()).select_from(Track)) == 1
        assert db.scalar(select(func.count()).select_from(TrackEmbedding)) == 1
    body = driver.recommend(client, clip, k=1)
    assert body["results"][0]["track_id"] == answer["track_id"]


@pytest.mark.slow
def test_restarted_api_rebuilds_the_index_and_answers_the_same(make_service, driver) -> None:
    ids = driver.clip_ids()[:6]
    client = make_service()
    driver.ingest(client, ids)
    before = driver.recommend(client, ids[2], k=6, method="nw_dtw")
    assert client.get("/readyz").json()["checks"]["index"]["tracks"] == 6
    make_service.stop_all()  # writes the index snapshot on the way out
    snapshots = list(make_service.data_dir.joinpath("index").rglob("*"))
    assert snapshots, "a stopped API leaves a snapshot of its index"

    client = make_service.start(make_service.settings())
    after = driver.recommend(client, ids[2], k=6, method="nw_dtw")
    assert [r["track_id"] for r in after["results"]] == [r["track_id"] for r in before["results"]]
    assert [r["score"] for r in after["results"]] == pytest.approx(
        [r["score"] for r in before["results"]], abs=1e-6
    )

    make_service.stop_all()  # and without any snapshot: rebuilt from the database rows
    for path in sorted(make_service.data_dir.joinpath("index").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    client = make_service.start(make_service.settings())
    rebuilt = driver.recommend(client, ids[2], k=6, method="nw_dtw")
    assert [r["track_id"] for r in rebuilt["results"]] == [r["track_id"] for r in before["results"]]
