"""``GET /recommend/preview.mp4``: a result of ``POST /recommend/video`` rendered under the
video the query cache kept (no new upload, no new analysis), a long video through a
``preview`` job, and the errors once the query or its video is gone. On the same
catalog (tagged by the re-embed job): ``prefer`` takes words people use for the
tagger's tags."""

from __future__ import annotations

import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.db.models import Track
from app.db.session import session_scope
from app.main import create_app
from app.migrate import upgrade
from app.services.models import active_model, register_model
from app.services.recommend import track_analysis
from app.settings import Settings
from cli.catalog import activate
from ml.media.decode import load_audio, probe
from ml.synth import timbre_sections, write_audio
from ml.synth.shot_video import write_shot_video
from tests.app.services.test_model_kinds import tiny_two_branch
from tests.conftest import CatalogRows
from tests.edit_catalog import SR, find_in_track

SHORT_CUTS = "4,8,12.5,20,26"
LONG_CUTS = "6,14,30,44,58,70,96,121,150,171"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Two 24 s tracks of known bars (120 bpm) over seeded noise (so that
    cross-correlation finds each span of the track in one place), embedded by a
    Seg-VM-Net with random weights; a 30 s and a 3-minute video of shots."""
    folder = tmp_path_factory.mktemp("result-preview")
    settings = Settings(data_dir=folder / "var")
    upgrade(settings.sqlalchemy_url)
    songs = [("piano", "bell", "organ"), ("pluck", "strings", "saw_synth")]
    exported = tiny_two_branch("segvmnet")(folder / "export", folder)
    samples = {}
    with session_scope(settings.sqlalchemy_url) as db:
        for n, instruments in enumerate(songs):
            y = timbre_sections([8.0] * 3, list(instruments), [120.0] * 3, SR)[0]
            y = y + np.random.default_rng(n).normal(0.0, 0.05, y.size).astype(np.float32)
            path = write_audio(folder / f"track{n}.flac", y, SR)
            track_id = CatalogRows.ready_track(db, settings, path, f"song {n}")
            db.get(Track, track_id).duration_s = y.size / SR
            samples[track_id] = y
        name = register_model(db, exported, settings.model_dir).name
    activate(settings, name)  # analyses and embeds the tracks (the re-embed job)
    videos = {}
    for seconds in (30, 180):
        videos[seconds] = folder / f"shots{seconds}.mp4"
        write_shot_video(videos[seconds], float(seconds), fps=12.0, seed=2, width=96, height=54)
    with TestClient(create_app(settings)) as client:
        yield client, settings, videos, samples


def recommend(client: TestClient, video, cuts: str, **params) -> dict:
    answer = client.post(
        "/recommend/video",
        params={"k": 2, "boundaries": cuts, **params},
        files={"file": ("v.mp4", video.read_bytes())},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def check_rendered(mp4: bytes, spans: list[dict], source: np.ndarray, downbeats, tmp_path):
    """The MP4 lasts as long as the plan, and each of its spans (checked over up to 3 s
    inside it) is the track's audio from the span's start, a join on a downbeat."""
    out = tmp_path / "preview.mp4"
    out.write_bytes(mp4)
    assert probe(out).duration_s == pytest.approx(spans[-1]["video_end_s"], abs=0.1)
    rendered = load_audio(out, sr=SR, max_duration_s=None)
    checked = 0
    for span in spans:
        a = span["video_start_s"] + 0.1
        b = min(span["video_end_s"] - 0.1, span["video_start_s"] + 3)
        if b - a < 0.3:
            continue
        found = find_in_track(rendered[int(a * SR) : int(b * SR)], source) - 0.1
        assert found == pytest.approx(span["track_start_s"], abs=0.005), span
        if span["video_start_s"] > 0:
            assert np.min(np.abs(downbeats - found)) < 0.03
        checked += 1
    assert checked >= 2


def stored_downbeats(client: TestClient, track_id: int) -> np.ndarray:
    """``(n,)`` the track's downbeats (s), from its analysis by the active model."""
    runtime = client.app.state.runtime
    with runtime.session() as db:
        model = runtime.models.get(active_model(db))
        return track_analysis(db, track_id, model.music_segmenter).downbeats_s()


def test_a_results_preview_renders_the_answers_plan_under_the_kept_video(served, tmp_path):
    client, settings, videos, samples = served
    body = recommend(client, videos[30], SHORT_CUTS)
    for result in body["results"]:
        url = result["preview_url"]
        assert url.startswith("/recommend/preview.mp4?")
        answer = client.get(url)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "video/mp4"
        # The plan the answer's edit describes: POST /edit/plan from the excerpt's start.
        plan = client.post(
            "/edit/plan",
            params={
                "track_id": result["track_id"],
                "boundaries": SHORT_CUTS,
                "start_s": result["excerpt"]["start_s"],
            },
            files={"file": ("v.mp4", videos[30].read_bytes())},
        ).json()
        assert [c["hit"] for c in plan["cuts"]] == [c["hit"] for c in result["edit"]["cuts"]]
        track = result["track_id"]
        downbeats = stored_downbeats(client, track)
        check_rendered(answer.content, plan["spans"], samples[track], downbeats, tmp_path)


def test_a_long_videos_preview_is_a_job_whose_result_is_the_mp4(served, tmp_path):
    client, settings, videos, samples = served
    assert settings.preview_async_seconds == 60.0
    body = recommend(client, videos[180], LONG_CUTS)
    result = body["results"][0]
    answer = client.get(result["preview_url"])
    assert answer.status_code == 202, answer.text
    job_url = answer.json()["job_url"]
    for _ in range(600):
        job = client.get(job_url).json()
        if job["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.2)
    assert job["status"] == "succeeded", job
    assert job["kind"] == "preview" and job["result"]["track_id"] == result["track_id"]
    plan = job["result"]["plan"]
    assert [(c["cut_s"], c["hit"]) for c in plan["cuts"]] == [
        (c["cut_s"], c["hit"]) for c in result["edit"]["cuts"]
    ]
    mp4 = client.get(job["result"]["preview_url"])
    assert mp4.status_code == 200 and mp4.headers["content-type"] == "video/mp4"
    assert plan["spans"][-1]["video_end_s"] == pytest.approx(180.0, abs=0.1)
    track = result["track_id"]
    downbeats = stored_downbeats(client, track)
    check_rendered(mp4.content, plan["spans"], samples[track], downbeats, tmp_path)


def test_an_expired_query_a_lost_video_and_bad_parameters_are_clear_errors(served, monkeypatch):
    client, settings, videos, _ = served
    body = recommend(client, videos[30], "3,9")
    url = body["results"][0]["preview_url"]
    sha = body["query"]["content_sha256"]
    params = {"query": sha, "track_id": body["results"][0]["track_id"], "boundaries": "3,9"}
    cache = client.app.state.runtime.queries
    unknown = client.get("/recommend/preview.mp4", params={**params, "track_id": 999999})
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"
    for bad in ({"query": "x"}, {"boundaries": "-1"}, {"track_id": 0}, {"method": "no"}):
        answer = client.get("/recommend/preview.mp4", params={**params, **bad})
        assert answer.status_code == 422 and answer.json()["error"] == "invalid_request"
    other = client.get("/recommend/preview.mp4", params={**params, "boundaries": "1,2"})
    assert other.status_code == 404 and other.json()["error"] == "query_not_cached"
    # The kept video removed while the analysis stays: 410.
    kept = cache.video(sha)
    kept.unlink()
    gone = client.get(url)
    assert gone.status_code == 410 and gone.json()["error"] == "query_video_gone"
    assert "send it again" in gone.json()["detail"]
    # The same video sent again is kept again; once the query ages out, 404.
    assert recommend(client, videos[30], "3,9")["results"][0]["preview_url"] == url
    assert cache.video(sha) == kept and kept.is_file()
    later = time.monotonic() + cache.max_age_s + 1
    monkeypatch.setattr("app.services.query_cache.time.monotonic", lambda: later)
    expired = client.get(url)
    assert expired.status_code == 404 and expired.json()["error"] == "query_not_cached"
    assert "send the video again" in expired.json()["detail"]
    # A job that is not a preview, or none.
    missing = client.get("/jobs/no-such-job/preview.mp4")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_prefer_takes_the_words_people_use_for_the_taggers_tags(served):
    client, _, videos, _ = served

    def scores(**params) -> dict[int, float]:
        body = recommend(client, videos[30], SHORT_CUTS, shortlist=2, **params)
        return {r["track_id"]: r["score"] for r in body["results"]}

    words = scores(prefer="Calm,energetic")
    assert words == scores(prefer="mellow,chill,easy listening,party,dance,hard rock")
    assert words != scores()  # the two tracks' tags differ: the order values move
    # Instruments are the MTT vocabulary's tags; a word for several is their mean.
    assert scores(prefer="calm,orchestral") == scores(
        prefer="mellow,chill,easy listening,classical,strings,violin,cello"
    )
    refused = client.post(
        "/recommend/video",
        params={"prefer": "calm,strings,bagpipes"},
        files={"file": ("v.mp4", videos[30].read_bytes())},
    )
    assert refused.status_code == 422 and refused.json()["error"] == "invalid_request"
    detail = refused.json()["detail"]
    assert detail.startswith("prefer: 'bagpipes' not among the automatic tags")
    assert all(t in detail for t in ("mellow", "piano", "strings", "energetic", "orchestral"))
