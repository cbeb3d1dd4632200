"""``/similar/track`` in the MuSimNet space, next to the tiny Seg-VM-Net, over HTTP.

The embedded default (SQLite, in-process jobs), the real API under uvicorn: a
MuSimNet is registered and activated beside the active Seg-VM-Net; tracks ingested
afterwards get their MuSimNet embedding at ingestion, tracks ingested before it get
theirs from the re-embed job that activation starts.
"""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from app.db.models import Model, TrackEmbedding
from app.db.session import session_scope
from app.services.costs import DEFAULT_METHOD
from app.services.models import register_model


def similar(client, **params) -> dict:
    response = client.post("/similar/track", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def ranked(body: dict) -> list[int]:
    return [r["track_id"] for r in body["results"]]


def cosine_order(url: str, model_id: int, query: np.ndarray, exclude: int) -> list[int]:
    """The catalog ranked by cosine similarity to ``query``, from the stored embeddings."""
    with session_scope(url) as db:
        rows = db.scalars(select(TrackEmbedding).where(TrackEmbedding.model_id == model_id)).all()
        vectors = {row.track_id: row.centroid_vector() for row in rows if row.track_id != exclude}
    q = query / np.linalg.norm(query)
    cosine = {t: float(v @ q / np.linalg.norm(v)) for t, v in vectors.items()}
    return sorted(cosine, key=lambda t: -cosine[t])


def stored_vector(url: str, model_id: int, track_id: int) -> np.ndarray:
    with session_scope(url) as db:
        return db.scalar(
            select(TrackEmbedding).where(
                TrackEmbedding.model_id == model_id, TrackEmbedding.track_id == track_id
            )
        ).centroid_vector()


SONGS = [
    ("piano", "bell"),
    ("organ", "pluck"),
    ("strings", "saw_synth"),
    ("sine_pad", "piano"),
    ("square_lead", "organ"),
]


def test_similar_track_ranks_the_musimnet_space_exactly(tiny_musimnet, tmp_path, rows) -> None:
    """Fast: a catalog of generated songs, embedded by the CLI activation (no Seg-VM-Net
    files needed: the video-to-music row is only there to stay active)."""
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.migrate import upgrade
    from app.settings import Settings
    from cli.catalog import register
    from ml.synth import timbre_sections, write_audio

    settings = Settings(data_dir=tmp_path / "var")
    upgrade(settings.sqlalchemy_url)
    files = [
        write_audio(
            tmp_path / f"{i}.flac",
            timbre_sections([4.0, 4.0], pair, [90.0 + 7 * i, 128.0 - 5 * i], 22050)[0],
            22050,
        )
        for i, pair in enumerate(SONGS)
    ]
    with session_scope(settings.sqlalchemy_url) as db:
        seg = rows.video_model(db, "seg")
        seg.active = True
        ids = [
            rows.ready_track(
                db,
                settings,
                path,
                f"song {i}",
                artist=f"artist-{i % 2}",
                license="CC0",
                tags=[f"group-{i % 3}"],
            )
            for i, path in enumerate(files)
        ]
    assert register(settings, tiny_musimnet, activate=True).endswith("active (5 tracks embedded)")
    with session_scope(settings.sqlalchemy_url) as db:
        sim_id = db.scalar(select(Model.id).where(Model.kind == "musimnet"))
        late_song = timbre_sections([4.0, 4.0], ["bell", "organ"], [100.0, 100.0], 22050)[0]
        late = rows.ready_track(
            db,
            settings,
            write_audio(tmp_path / "late.flac", late_song, 22050),
            "late",
            artist="late",
        )
    with TestClient(create_app(settings)) as client:
        query = ids[2]
        body = similar(client, track_id=query, k=10)
        assert (body["space"], body["model"], body["query_track_id"]) == (
            "musimnet",
            "tiny-musimnet",
            query,
        )
        expected = cosine_order(
            settings.sqlalchemy_url,
            sim_id,
            stored_vector(settings.sqlalchemy_url, sim_id, query),
            query,
        )
        assert ranked(body) == expected and len(expected) == 4  # the late track: no vector
        scores = [r["score"] for r in body["results"]]
        assert scores == sorted(scores, reverse=True) and scores[0] < 0
        assert ranked(similar(client, track_id=query, k=2)) == expected[:2]
        filtered = similar(client, track_id=query, k=10, exclude_artist="artist-1")
        assert ranked(filtered) == [t for t in expected if ids.index(t) % 2 == 0]
        tagged = similar(client, track_id=query, k=10, tag="group-0")
        assert ranked(tagged) == [t for t in expected if ids.index(t) % 3 == 0]
        # The late track (ready, never embedded by the MuSimNet): a precise 409.
        stale = client.post("/similar/track", params={"track_id": late})
        assert stale.status_code == 409 and stale.json()["error"] == "track_not_ready"
        assert f"/models/{sim_id}/activate" in stale.json()["detail"]
        # An upload is embedded like the catalog: its own copy first, at distance 0.
        with open(files[4], "rb") as handle:
            upload = client.post(
                "/similar/track", params={"k": 2}, files={"file": ("4.flac", handle)}
            ).json()
        assert upload["space"] == "musimnet" and upload["query_track_id"] is None
        assert ranked(upload)[0] == ids[4]
        assert upload["results"][0]["score"] == pytest.approx(0.0, abs=1e-5)
        # /recommend/video searches the Seg-VM-Net's index (empty here: no track has
        # segment embeddings), never the MuSimNet's five tracks.
        with open(files[0], "rb") as handle:
            video = client.post("/recommend/video", files={"file": ("0.flac", handle)})
        assert video.status_code == 409 and video.json()["error"] == "empty_catalog"


@pytest.mark.slow
def test_similar_track_answers_from_the_musimnet_space(
    make_service, driver, tiny_musimnet, eventually
) -> None:
    client = make_service()
    url = make_service.settings().sqlalchemy_url
    ids = driver.clip_ids()
    before = driver.ingest(client, ids[:3])
    first = before[ids[0]]

    # Without a MuSimNet: the music branch's segment sequences, as before.
    body = similar(client, track_id=first, k=2)
    assert (body["space"], body["method"]) == ("music_branch", DEFAULT_METHOD)
    assert len(body["results"]) == 2 and first not in ranked(body)

    # Activated without embedding the catalog: no vector yet, a precise 409.
    with session_scope(url) as db:
        sim_id = register_model(
            db, tiny_musimnet, make_service.settings().model_dir, activate=True
        ).id
    empty = client.post("/similar/track", params={"track_id": first})
    assert empty.status_code == 409 and empty.json()["error"] == "empty_catalog"

    # Tracks ingested now get their MuSimNet vector at ingestion ...
    after = driver.ingest(client, ids[3:6])
    query = after[ids[3]]
    body = similar(client, track_id=query, k=10)
    assert body["space"] == "musimnet" and body["model"] == "tiny-musimnet"
    assert body["method"] == "centroid" and body["query_track_id"] == query
    # ... the older ones are skipped (not embedded), and asking about one is a 409.
    assert sorted(ranked(body)) == sorted(t for t in after.values() if t != query)
    stale = client.post("/similar/track", params={"track_id": first})
    assert stale.status_code == 409 and "similarity model tiny-musimnet" in stale.json()["detail"]

    # Activation through the API embeds the older tracks (the re-embed job).
    job_url = client.post(f"/models/{sim_id}/activate").json()["job_url"]
    eventually(lambda: client.get(job_url).json()["status"] in ("succeeded", "failed"), 300)
    job = client.get(job_url).json()
    assert job["status"] == "succeeded", job["error"]
    assert job["result"] | {"model_id": None} == {
        "model_id": None,
        "tracks": 3,
        "from_cache": 0,
        "analysed": 3,
        "failed": 0,
        # Ingestion tagged all six although the model's features (handcrafted) carry no
        # tagger: nothing is left for the job to tag.
        "tagged": 0,
        "tagging_failed": 0,
        "activated": True,
    }
    everyone = {**before, **after}
    body = similar(client, track_id=query, k=10)
    assert ranked(body) == cosine_order(url, sim_id, stored_vector(url, sim_id, query), query)
    assert len(body["results"]) == 5 and body["results"][0]["rank"] == 1
    assert {
        "track_id",
        "rank",
        "score",
        "title",
        "artist",
        "license",
        "tags",
        "bpm",
        "duration_s",
    } <= set(body["results"][0])

    # The same filters as ever (Driver: artist-{i % 3}, tag group-{i % 2}).
    body = similar(client, track_id=query, k=10, exclude_artist="artist-1")
    assert body["results"] and all(r["artist"] != "artist-1" for r in body["results"])
    assert len(body["results"]) < 5
    body = similar(client, track_id=query, k=10, tag="group-0")
    assert body["results"] and all("group-0" in r["tags"] for r in body["results"])

    # An uploaded recording is embedded by the ONNX MuSimNet as ingestion did: the
    # catalog's copy of it comes first, at distance 0.
    with open(driver.track_file(ids[3]), "rb") as handle:
        response = client.post(
            "/similar/track", params={"k": 3}, files={"file": (f"{ids[3]}.flac", handle)}
        )
    assert response.status_code == 200, response.text
    upload = response.json()
    assert upload["space"] == "musimnet" and ranked(upload)[0] == query
    assert upload["results"][0]["score"] == pytest.approx(0.0, abs=1e-5)

    # The Seg-VM-Net is still the active video-to-music model, and serves videos.
    active = {m["name"]: m["kind"] for m in client.get("/models").json()["models"] if m["active"]}
    with session_scope(url) as db:
        seg_name = db.scalar(select(Model.name).where(Model.kind == "segvmnet"))
    assert active == {seg_name: "segvmnet", "tiny-musimnet": "musimnet"}
    video = driver.recommend(client, ids[4], k=3)
    assert video["model"] == seg_name and len(video["results"]) == 3
    assert set(ranked(video)) <= set(everyone.values())

    # Deleting a track takes it out of the MuSimNet index as well.
    victim = ranked(similar(client, track_id=query, k=1))[0]
    assert client.delete(f"/catalog/tracks/{victim}").json()["deleted"] is True
    body = similar(client, track_id=query, k=10)
    assert victim not in ranked(body) and len(body["results"]) == 4
