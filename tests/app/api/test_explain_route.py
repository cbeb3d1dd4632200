"""Each result of ``POST /recommend/video`` carries the edit plan's hit/miss list of the
video's cuts, and its picture at ``GET /recommend/explain.png`` from the query cache."""

from __future__ import annotations

import hashlib
import io
import struct

import pytest
from fastapi.testclient import TestClient

from app.db.session import session_scope
from app.main import create_app
from app.migrate import upgrade
from app.services.models import register_model
from app.settings import Settings
from cli.catalog import activate
from ml.synth import timbre_sections, write_audio
from ml.synth.shot_video import write_shot_video
from tests.app.services.test_model_kinds import tiny_two_branch
from tests.conftest import CatalogRows

SR = 22050
CUTS = "2,4,6.5"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Two 24 s tracks of known bars (120 bpm), embedded by a Seg-VM-Net with random
    weights over the handcrafted extractors, and a 9 s video of shots."""
    folder = tmp_path_factory.mktemp("explain")
    settings = Settings(data_dir=folder / "var")
    upgrade(settings.sqlalchemy_url)
    songs = [("piano", "bell", "organ"), ("pluck", "strings", "saw_synth")]
    exported = tiny_two_branch("segvmnet")(folder / "export", folder)
    with session_scope(settings.sqlalchemy_url) as db:
        for n, instruments in enumerate(songs):
            y = timbre_sections([8.0] * 3, list(instruments), [120.0] * 3, SR)[0]
            path = write_audio(folder / f"track{n}.flac", y, SR)
            CatalogRows.ready_track(db, settings, path, f"song {n}")
        name = register_model(db, exported, settings.model_dir).name
    activate(settings, name)  # analyses and embeds the tracks (the re-embed job)
    video = folder / "shots.mp4"
    write_shot_video(video, 9.0, fps=12.0, seed=2, width=96, height=54)
    with TestClient(create_app(settings)) as client:
        yield client, video.read_bytes()


def recommend(client: TestClient, video: bytes, **params) -> dict:
    answer = client.post(
        "/recommend/video",
        params={"k": 2, "boundaries": CUTS, **params},
        files={"file": ("v.mp4", video)},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def png_size(content: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (the first, right after the signature)."""
    assert content[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", content[8:16])
    assert kind == b"IHDR" and length == 13
    return struct.unpack(">II", content[16:24])


def test_each_result_lists_the_plans_hits_as_post_edit_plan_makes_them(served) -> None:
    client, video = served
    body = recommend(client, video)
    assert body["query"]["content_sha256"] == hashlib.sha256(video).hexdigest()
    assert len(body["results"]) == 2
    for result in body["results"]:
        edit = result["edit"]
        assert [c["cut_s"] for c in edit["cuts"]] == [2.0, 4.0, 6.5]
        assert edit["cuts_hit"] == sum(c["hit"] for c in edit["cuts"])
        for cut in edit["cuts"]:
            assert isinstance(cut["miss_ms"], int)
            assert cut["hit"] == (abs(cut["miss_ms"]) <= edit["tolerance_ms"])
        # The same plan as POST /edit/plan from the excerpt's start (what /preview renders).
        plan = client.post(
            "/edit/plan",
            params={
                "track_id": result["track_id"],
                "boundaries": CUTS,
                "start_s": result["excerpt"]["start_s"],
            },
            files={"file": ("v.mp4", video)},
        )
        assert plan.status_code == 200, plan.text
        assert [(c["cut_s"], c["hit"], round(c["miss_s"] * 1000)) for c in plan.json()["cuts"]] == [
            (c["cut_s"], c["hit"], c["miss_ms"]) for c in edit["cuts"]
        ]
    # 120 bpm, bars of 2 s: cuts at 2 and 4 s can both sit on downbeats, and the plan
    # puts them there for at least one track (6.5 s is half a bar off that grid).
    assert max(r["edit"]["cuts_hit"] for r in body["results"]) >= 2


def test_the_picture_of_a_result_is_a_png_from_the_cached_query(served) -> None:
    client, video = served
    body = recommend(client, video, method="nw_dtw")
    pictures = []
    for result in body["results"]:
        url = result["explain_url"]
        assert url.startswith("/recommend/explain.png?")
        answer = client.get(url)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "image/png"
        assert png_size(answer.content) == (800, 600)
        from matplotlib.image import imread

        pixels = imread(io.BytesIO(answer.content))
        assert pixels.shape[:2] == (600, 800) and float(pixels[..., :3].std()) > 0.05
        pictures.append(answer.content)
    assert pictures[0] != pictures[1]  # two tracks, two pictures
    # The URL is made of the documented parameters.
    query = body["query"]["content_sha256"]
    track = body["results"][0]["track_id"]
    params = {"query": query, "track_id": track, "method": "nw_dtw", "boundaries": CUTS}
    again = client.get("/recommend/explain.png", params=params)
    assert again.status_code == 200 and again.content == pictures[0]


def test_a_query_no_longer_cached_is_404_and_bad_parameters_422(served) -> None:
    client, video = served
    body = recommend(client, video)
    query, track = body["query"]["content_sha256"], body["results"][0]["track_id"]

    def explain(**params):
        return client.get(
            "/recommend/explain.png", params={"query": query, "track_id": track, **params}
        )

    assert explain(boundaries=CUTS).status_code == 200
    # Other cut options are another analysis: not cached.
    for asked in ({"boundaries": "1,3"}, {}, {"boundaries": CUTS, "min_segment_s": 1}):
        answer = explain(**asked)
        assert answer.status_code == 404, asked
        assert answer.json()["error"] == "query_not_cached"
        assert "send the video again" in answer.json()["detail"]
    unknown = client.get(
        "/recommend/explain.png",
        params={"query": "0" * 64, "track_id": track, "boundaries": CUTS},
    )
    assert unknown.status_code == 404 and unknown.json()["error"] == "query_not_cached"
    missing = explain(boundaries=CUTS, track_id=999999)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert "999999" in missing.json()["detail"]
    for bad in (
        {"query": "not-a-sha"},
        {"query": query.upper()},
        {"boundaries": "x"},
        {"boundaries": "-1"},
        {"method": "nope"},
        {"track_id": 0},
        {"min_segment_s": -1},
    ):
        answer = explain(**{"boundaries": CUTS, **bad})
        assert answer.status_code == 422, bad
        assert answer.json()["error"] == "invalid_request", answer.json()


def test_without_a_query_cache_there_is_no_picture_url(served) -> None:
    """A cache that keeps nothing (``max_entries`` 0) gives no URL that would 404."""
    client, video = served
    runtime = client.app.state.runtime
    kept = runtime.queries.max_entries
    runtime.queries.max_entries = 0
    try:
        body = recommend(client, video, boundaries="3,6")
    finally:
        runtime.queries.max_entries = kept
    assert body["query"]["content_sha256"] == hashlib.sha256(video).hexdigest()
    assert all(r["explain_url"] is None for r in body["results"])
    assert all(len(r["edit"]["cuts"]) == 2 for r in body["results"])
