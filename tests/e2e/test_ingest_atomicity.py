"""Ingestion leaves nothing half-done: a track and its job are written together, identical
uploads share one track and its job, a stranded track is retried, a failed ingest fails
its track, and text the database cannot store is refused before anything is stored."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from app.db.models import (
    Job,
    JobStatus,
    Track,
    TrackAnalysis,
    TrackEmbedding,
    TrackFeatures,
    TrackStatus,
)
from app.db.session import get_engine, session_scope
from app.media_store import MediaStore
from cli.demo import wait_for_jobs

pytestmark = pytest.mark.slow


def refuse_inserts(url: str, table: str) -> None:
    """Make the database itself refuse every INSERT into ``table`` (a real failure of the
    write, as a full disk or a lost connection would be)."""
    with get_engine(url).begin() as conn:
        if url.startswith("sqlite"):
            conn.exec_driver_sql(
                f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} are refused'); END"
            )
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'refused'; END $$"
            )
            conn.exec_driver_sql(
                f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION refuse()"
            )


def accept_inserts(url: str, table: str) -> None:
    with get_engine(url).begin() as conn:
        on = "" if url.startswith("sqlite") else f" ON {table}"
        conn.exec_driver_sql(f"DROP TRIGGER refuse_{table}{on}")


def count(url: str, model) -> int:
    with session_scope(url) as db:
        return db.scalar(select(func.count()).select_from(model))


def stored_files(settings) -> list[Path]:
    """The media store's files, and its hash folders left empty (none should be)."""
    return [
        p
        for p in settings.media_dir.rglob("*")
        if p.is_file() or (p.is_dir() and not p.name.startswith(".") and not any(p.iterdir()))
    ]


def upload(client, path: Path, name: str | None = None, metadata: dict | None = None):
    with open(path, "rb") as handle:
        return client.post(
            "/catalog/tracks",
            files={"file": (name or path.name, handle)},
            data={"metadata": json.dumps(metadata)} if metadata else None,
        )


def test_concurrent_identical_uploads_share_one_track_and_its_job(
    make_service, driver, database_url
) -> None:
    client = make_service(database_url)
    clip = driver.clip_ids()[0]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: driver.upload(client, clip), range(8)))
    assert all(a["job_id"] for a in answers), answers
    assert len({a["track_id"] for a in answers}) == 1
    assert len({a["job_id"] for a in answers}) == 1
    assert sum(not a["duplicate"] for a in answers) == 1
    url = make_service.settings(database_url).sqlalchemy_url
    assert count(url, Track) == 1 and count(url, Job) == 1
    [job] = wait_for_jobs(client, [answers[0]["job_id"]], timeout_s=600)
    assert job["status"] == "succeeded", job


def test_a_failed_write_leaves_no_track_no_job_and_no_file(
    make_service, driver, database_url
) -> None:
    client = make_service(database_url)
    settings = make_service.settings(database_url)
    url = settings.sqlalchemy_url
    refuse_inserts(url, "jobs")  # the track's row is written, its job's is refused
    response = driver_upload = upload(client, driver.track_file(driver.clip_ids()[1]))
    assert response.status_code == 500, response.text
    assert driver_upload.json()["error"] == "internal_error"
    assert count(url, Track) == 0 and count(url, Job) == 0
    assert stored_files(settings) == []

    accept_inserts(url, "jobs")
    again = upload(client, driver.track_file(driver.clip_ids()[1]))
    assert again.status_code == 202 and again.json()["job_id"], again.text
    assert count(url, Track) == 1 and count(url, Job) == 1


def test_a_stranded_track_is_ingested_again_on_reupload(make_service, driver, database_url) -> None:
    """What a crash or an old bug could leave: a track pending without any job, one
    processing whose job failed, one failed. Uploading the file again retries each."""
    client = make_service(database_url)
    settings = make_service.settings(database_url)
    url = settings.sqlalchemy_url
    clips = driver.clip_ids()[2:5]
    states = [
        (TrackStatus.pending, None),
        (TrackStatus.processing, JobStatus.failed),
        (TrackStatus.failed, JobStatus.failed),
    ]
    with session_scope(url) as db:
        for clip, (status, job_status) in zip(clips, states):
            stored = MediaStore(settings.media_dir).put_path(driver.track_file(clip))
            track = Track(
                title=clip,
                content_hash=stored.key,
                media_key=stored.key,
                status=status,
                error="stranded",
            )
            db.add(track)
            db.flush()
            if job_status is not None:
                db.add(
                    Job(
                        id=f"old-{track.id}",
                        kind="ingest",
                        params={"track_id": track.id},
                        track_id=track.id,
                        status=job_status,
                        stage="failed",
                    )
                )
    answers = [upload(client, driver.track_file(clip)) for clip in clips]
    assert [a.status_code for a in answers] == [202, 202, 202], [a.text for a in answers]
    bodies = [a.json() for a in answers]
    assert all(b["job_id"] and not b["job_id"].startswith("old-") for b in bodies), bodies
    jobs = wait_for_jobs(client, [b["job_id"] for b in bodies], timeout_s=600)
    assert [j["status"] for j in jobs] == ["succeeded"] * 3, jobs
    for body in bodies:
        track = client.get(f"/catalog/tracks/{body['track_id']}").json()
        assert track["status"] == "ready" and track["error"] is None
    assert count(url, Track) == 3

    # A track with a live job is not queued twice.
    again = upload(client, driver.track_file(clips[0])).json()
    assert again["duplicate"] is True and again["job_id"] == bodies[0]["job_id"]


def test_an_ingest_that_fails_after_analysis_fails_its_track(
    make_service, driver, database_url
) -> None:
    """Not a media error: the database refuses the results. The track must not stay
    ``processing`` and nothing of its analysis may be left behind."""
    client = make_service(database_url)
    url = make_service.settings(database_url).sqlalchemy_url
    refuse_inserts(url, "track_embeddings")
    clip = driver.clip_ids()[5]
    answer = upload(client, driver.track_file(clip)).json()
    [job] = wait_for_jobs(client, [answer["job_id"]], timeout_s=600)
    assert job["status"] == "failed" and job["error"].startswith("internal error"), job
    track = client.get(f"/catalog/tracks/{answer['track_id']}").json()
    assert track["status"] == "failed" and track["error"] == job["error"]
    for table in (TrackAnalysis, TrackFeatures, TrackEmbedding):
        assert count(url, table) == 0

    accept_inserts(url, "track_embeddings")
    retry = upload(client, driver.track_file(clip))
    assert retry.status_code == 202 and retry.json()["job_id"] != answer["job_id"]
    [job] = wait_for_jobs(client, [retry.json()["job_id"]], timeout_s=600)
    assert job["status"] == "succeeded", job
    assert client.get(f"/catalog/tracks/{answer['track_id']}").json()["status"] == "ready"


def test_nul_in_metadata_is_refused_before_anything_is_stored(
    make_service, driver, database_url
) -> None:
    client = make_service(database_url)
    settings = make_service.settings(database_url)
    path = driver.track_file(driver.clip_ids()[6])
    for metadata in (
        {"title": "a\x00b"},
        {"artist": "\x00"},
        {"tags": ["ok", "x\x00"]},
        {"mood": {"k\x00": "v"}},
    ):
        response = upload(client, path, metadata=metadata)
        assert response.status_code == 422, response.text
        assert response.json()["error"] == "invalid_metadata"
        assert "NUL" in response.json()["detail"]
    assert count(settings.sqlalchemy_url, Track) == 0
    assert stored_files(settings) == []


def test_nul_in_the_file_name_is_dropped(make_service, driver, database_url) -> None:
    client = make_service(database_url)
    url = make_service.settings(database_url).sqlalchemy_url
    data = driver.track_file(driver.clip_ids()[7]).read_bytes()
    boundary = "v2m-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="night\x00drive.flac"\r\nContent-Type: audio/flac\r\n\r\n'
    )
    body = head.encode("latin-1") + data + f"\r\n--{boundary}--\r\n".encode()
    response = client.post(
        "/catalog/tracks",
        content=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 202, response.text
    with session_scope(url) as db:
        track = db.get(Track, response.json()["track_id"])
        assert (track.title, track.original_filename) == ("nightdrive", "nightdrive.flac")
    with get_engine(url).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM jobs")).scalar() == 1
