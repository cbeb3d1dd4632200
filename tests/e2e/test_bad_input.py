"""Every bad request gets a precise 4xx JSON error and leaves the catalog unchanged."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from app.db.session import session_scope
from app.migrate import upgrade
from app.services.models import register_model
from app.settings import Settings
from cli.demo import LocalServer

MAX_UPLOAD = 3 * 1024 * 1024


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad-media")
    files = {
        "tone": d / "tone.wav",
        "one_second": d / "one.wav",
        "silent": d / "silent.wav",
        "mute_video": d / "mute.mp4",
        "short_video": d / "short.mp4",
        "video": d / "video.mp4",
    }
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=330:duration=8", files["tone"].as_posix())
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=330:duration=1", files["one_second"].as_posix())
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=22050:cl=mono", "-t", "6", files["silent"].as_posix())
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=96x64:rate=25",
        "-t",
        "6",
        "-pix_fmt",
        "yuv420p",
        files["mute_video"].as_posix(),
    )
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=96x64:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440",
        "-t",
        "1",
        "-pix_fmt",
        "yuv420p",
        "-shortest",
        files["short_video"].as_posix(),
    )
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=96x64:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440",
        "-t",
        "8",
        "-pix_fmt",
        "yuv420p",
        "-shortest",
        files["video"].as_posix(),
    )
    truncated = d / "truncated.mp4"
    truncated.write_bytes(files["video"].read_bytes()[: files["video"].stat().st_size // 3])
    files["truncated"] = truncated
    (d / "notes.mp3").write_text("these are not the sounds you are looking for\n" * 40)
    files["text"] = d / "notes.mp3"
    (d / "noise.bin").write_bytes(bytes(range(256)) * 64)
    files["random"] = d / "noise.bin"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "color=c=red:size=64x64",
        "-frames:v",
        "1",
        (d / "still.png").as_posix(),
    )
    files["image"] = d / "still.png"
    (d / "empty.wav").write_bytes(b"")
    files["empty"] = d / "empty.wav"
    (d / "big.wav").write_bytes(b"RIFF" + b"\0" * (MAX_UPLOAD + 2 * 1024 * 1024))
    files["huge"] = d / "big.wav"
    return files


@pytest.fixture(scope="module")
def service(tiny_demo, tmp_path_factory, media):
    """An API with the tiny model active and two ready tracks."""
    root = tmp_path_factory.mktemp("bad-input-service")
    settings = Settings(data_dir=root, max_upload_bytes=MAX_UPLOAD)
    upgrade(settings.sqlalchemy_url)
    with session_scope(settings.sqlalchemy_url) as db:
        register_model(db, tiny_demo / "model", settings.model_dir, activate=True)
    server = LocalServer(settings)
    client = server.__enter__()
    for clip in sorted((tiny_demo / "corpus" / "tracks").glob("*.flac"))[:2]:
        with open(clip, "rb") as handle:
            job = client.post("/catalog/tracks", files={"file": (clip.name, handle)}).json()
        while client.get(f"/jobs/{job['job_id']}").json()["status"] not in ("succeeded", "failed"):
            time.sleep(0.2)
    yield client, settings
    server.__exit__(None, None, None)


def catalog_state(client, settings) -> tuple:
    tracks = client.get("/catalog/tracks", params={"limit": 500}).json()
    files = sorted(p.name for p in settings.media_dir.rglob("*") if p.is_file())
    return tracks["total"], [t["track_id"] for t in tracks["tracks"]], files


UPLOAD = "/catalog/tracks"
VIDEO = "/recommend/video"
CASES = [
    # (name, method, path, file key or None, extra request kwargs, status, error code)
    ("upload without a file", "post", UPLOAD, None, {}, 422, "invalid_request"),
    ("upload of zero bytes", "post", UPLOAD, "empty", {}, 422, "empty_file"),
    ("upload of text named .mp3", "post", UPLOAD, "text", {}, 415, "not_media"),
    ("upload of random bytes", "post", UPLOAD, "random", {}, 415, "not_media"),
    ("upload of a still image", "post", UPLOAD, "image", {}, 415, "not_media"),
    ("upload of a truncated mp4", "post", UPLOAD, "truncated", {}, 422, "corrupt_media"),
    ("upload of one second", "post", UPLOAD, "one_second", {}, 422, "too_short"),
    ("upload of a video without sound", "post", UPLOAD, "mute_video", {}, 422, "no_audio_stream"),
    ("upload over the size limit", "post", UPLOAD, "huge", {}, 413, "too_large"),
    (
        "metadata that is not JSON",
        "post",
        UPLOAD,
        "tone",
        {"data": {"metadata": "{title:"}},
        422,
        "invalid_metadata",
    ),
    (
        "metadata that is a list",
        "post",
        UPLOAD,
        "tone",
        {"data": {"metadata": "[1, 2]"}},
        422,
        "invalid_metadata",
    ),
    (
        "metadata tags not a list",
        "post",
        UPLOAD,
        "tone",
        {"data": {"metadata": json.dumps({"tags": "rock"})}},
        422,
        "invalid_metadata",
    ),
    ("recommend without a file", "post", VIDEO, None, {}, 422, "invalid_request"),
    ("recommend on zero bytes", "post", VIDEO, "empty", {}, 422, "empty_file"),
    ("recommend on text", "post", VIDEO, "text", {}, 415, "not_media"),
    ("recommend on an image", "post", VIDEO, "image", {}, 415, "not_media"),
    ("recommend on audio only", "post", VIDEO, "tone", {}, 422, "no_video_stream"),
    ("recommend on a truncated video", "post", VIDEO, "truncated", {}, 422, "corrupt_media"),
    ("recommend on a one-second video", "post", VIDEO, "short_video", {}, 422, "too_short"),
    ("recommend with k=0", "post", VIDEO, "video", {"params": {"k": 0}}, 422, "invalid_request"),
    (
        "recommend with k=1000",
        "post",
        VIDEO,
        "video",
        {"params": {"k": 1000}},
        422,
        "invalid_request",
    ),
    (
        "recommend with an unknown method",
        "post",
        VIDEO,
        "video",
        {"params": {"method": "cosine"}},
        422,
        "invalid_request",
    ),
    (
        "recommend with a negative shortlist",
        "post",
        VIDEO,
        "video",
        {"params": {"shortlist": -5}},
        422,
        "invalid_request",
    ),
    (
        "recommend with min_bpm > max_bpm",
        "post",
        VIDEO,
        "video",
        {"params": {"min_bpm": 140, "max_bpm": 90}},
        422,
        "invalid_request",
    ),
    (
        "recommend with unreadable cut points",
        "post",
        VIDEO,
        "video",
        {"params": {"boundaries": "1,two,3"}},
        422,
        "invalid_request",
    ),
    ("recommend over the size limit", "post", VIDEO, "huge", {}, 413, "too_large"),
    ("unknown track", "get", "/catalog/tracks/987654", None, {}, 404, "not_found"),
    ("delete an unknown track", "delete", "/catalog/tracks/987654", None, {}, 404, "not_found"),
    (
        "track id that is not a number",
        "get",
        "/catalog/tracks/abc",
        None,
        {},
        422,
        "invalid_request",
    ),
    (
        "unknown job",
        "get",
        "/jobs/00000000-0000-0000-0000-000000000000",
        None,
        {},
        404,
        "not_found",
    ),
    (
        "list with a negative offset",
        "get",
        "/catalog/tracks",
        None,
        {"params": {"offset": -1}},
        422,
        "invalid_request",
    ),
    (
        "list with an unknown status",
        "get",
        "/catalog/tracks",
        None,
        {"params": {"status": "gone"}},
        422,
        "invalid_request",
    ),
    (
        "similar with neither id nor file",
        "post",
        "/similar/track",
        None,
        {},
        422,
        "invalid_request",
    ),
    (
        "similar to an unknown track",
        "post",
        "/similar/track",
        None,
        {"params": {"track_id": 987654}},
        404,
        "not_found",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, method, path, key, kwargs, status, code", CASES, ids=[c[0] for c in CASES]
)
def test_bad_request(service, media, name, method, path, key, kwargs, status, code) -> None:
    client, settings = service
    before = catalog_state(client, settings)
    request = dict(kwargs)
    if key is not None:
        request["files"] = {"file": (media[key].name, media[key].read_bytes())}
    response = getattr(client, method)(path, **request)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code and body["detail"], body
    assert "/" + "tmp" not in body["detail"], "server paths must not leak"
    assert catalog_state(client, settings) == before


@pytest.mark.slow
def test_hostile_file_names_are_only_metadata(service, media) -> None:
    client, settings = service
    for name in ("../../etc/passwd.wav", "-rf .wav", "a\nb.wav", "x" * 600 + ".wav"):
        response = client.post(
            "/catalog/tracks", files={"file": (name, media["tone"].read_bytes())}
        )
        assert response.status_code in (200, 202), response.text
    assert not (settings.data_dir.parent / "etc").exists()
    stored = [p for p in settings.media_dir.rglob("*") if p.is_file()]
    assert all(len(p.name) == 64 for p in stored)


@pytest.mark.slow
def test_silent_track_fails_its_job_with_a_clear_reason(service, media) -> None:
    client, _ = service
    with open(media["silent"], "rb") as handle:
        answer = client.post("/catalog/tracks", files={"file": ("silent.wav", handle)}).json()
    deadline = time.monotonic() + 120
    while (job := client.get(f"/jobs/{answer['job_id']}").json())["status"] not in (
        "succeeded",
        "failed",
    ):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert job["status"] == "failed" and "silen" in job["error"].lower()
    track = client.get(f"/catalog/tracks/{answer['track_id']}").json()
    assert track["status"] == "failed" and track["error"]
