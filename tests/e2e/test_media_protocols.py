"""Uploads that would make FFmpeg read other files of the server are refused with 415.

An HLS playlist, an ffconcat list or a DASH manifest uploaded as a track or as a
query video names a local file; the service answers 415 before FFmpeg opens it
(a named pipe stands where the file would be and records any open), says
nothing about the server's paths or memory, and stores nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from app.db.session import session_scope
from app.errors import public_message
from app.migrate import upgrade
from app.services.models import register_model
from app.settings import Settings
from cli.demo import LocalServer
from ml.media.errors import CorruptMediaError
from tests.tripwire import BINARY_TAIL, Tripwire


@pytest.fixture(scope="module")
def service(tiny_demo, tmp_path_factory):
    """An API with the tiny model active and one ready track (queries need one)."""
    root = tmp_path_factory.mktemp("media-protocols-service")
    settings = Settings(data_dir=root)
    upgrade(settings.sqlalchemy_url)
    with session_scope(settings.sqlalchemy_url) as db:
        register_model(db, tiny_demo / "model", settings.model_dir, activate=True)
    server = LocalServer(settings)
    client = server.__enter__()
    clip = min((tiny_demo / "corpus" / "tracks").glob("*.flac"))
    job = client.post("/catalog/tracks", files={"file": (clip.name, clip.read_bytes())}).json()
    deadline = time.monotonic() + 300
    while client.get(f"/jobs/{job['job_id']}").json()["status"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, "the track was not ingested in time"
        time.sleep(0.2)
    track = client.get(f"/catalog/tracks/{job['track_id']}").json()
    assert track["status"] == "ready", track
    yield client, settings
    server.__exit__(None, None, None)


@pytest.fixture(scope="module")
def local_media(tmp_path_factory) -> dict[str, bytes]:
    """The bytes of real files a list could point at (a soundtrack, a video)."""
    d = tmp_path_factory.mktemp("local-media")
    run = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi"]
    subprocess.run([*run, "-i", "sine=frequency=330:duration=8", "-c:a", "libmp3lame",
                    str(d / "song.mp3")], check=True)  # fmt: skip
    subprocess.run([*run, "-i", "testsrc=size=96x64:rate=25", "-f", "lavfi", "-i",
                    "sine=frequency=440", "-t", "8", "-pix_fmt", "yuv420p", "-shortest",
                    str(d / "clip.mp4")], check=True)  # fmt: skip
    return {"mp3": (d / "song.mp3").read_bytes(), "mp4": (d / "clip.mp4").read_bytes()}


def hls(target: Path) -> bytes:
    return (b"#EXTM3U\n#EXT-X-TARGETDURATION:60\n#EXTINF:8.0,\n" + os.fsencode(target)
            + b"\n#EXT-X-ENDLIST\n" + BINARY_TAIL)  # fmt: skip


def ffconcat(target: Path) -> bytes:
    return b"ffconcat version 1.0\nfile " + os.fsencode(target) + b"\n" + BINARY_TAIL


def dash(target: Path) -> bytes:
    return (b'<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" '
            b'profiles="urn:mpeg:dash:profile:isoff-on-demand:2011" type="static" '
            b'mediaPresentationDuration="PT8S" minBufferTime="PT1S"><Period>'
            b'<AdaptationSet mimeType="video/mp4"><Representation id="a" bandwidth="128000">'
            b"<BaseURL>" + os.fsencode(target) + b"</BaseURL></Representation></AdaptationSet>"
            b"</Period></MPD>" + BINARY_TAIL)  # fmt: skip


def stored_state(client, settings: Settings) -> tuple:
    """The catalog's track ids and the files of the media store."""
    tracks = client.get("/catalog/tracks", params={"limit": 500}).json()["tracks"]
    files = sorted(p.name for p in settings.media_dir.rglob("*") if p.is_file())
    return [t["track_id"] for t in tracks], files


CASES = [
    # (route, list maker, uploaded name, referenced file, its kind)
    ("/catalog/tracks", hls, "song.m3u8", "soundtrack.mp3", "mp3"),
    ("/catalog/tracks", hls, "song.mp3", "soundtrack.mp3", "mp3"),
    ("/catalog/tracks", ffconcat, "song.ffconcat", "soundtrack.mp3", "mp3"),
    ("/catalog/tracks", dash, "song.mpd", "clip.mp4", "mp4"),
    ("/recommend/video", hls, "clip.m3u8", "clip.mp4", "mp4"),
    ("/recommend/video", hls, "clip.mp4", "clip.mp4", "mp4"),
    ("/recommend/video", dash, "clip.mpd", "clip.mp4", "mp4"),
]


@pytest.mark.slow
@pytest.mark.parametrize("route, make, name, target, kind", CASES,
                         ids=[f"{c[0]} {c[1].__name__} as {c[2]}" for c in CASES])  # fmt: skip
def test_lists_naming_server_files_are_refused_before_they_are_opened(
    service, local_media, tmp_path, route, make, name, target, kind
) -> None:
    client, settings = service
    before = stored_state(client, settings)
    wire = Tripwire(tmp_path / target, local_media[kind])
    try:
        response = client.post(route, files={"file": (name, make(wire.path))})
    finally:
        opened = wire.release()
    assert response.status_code == 415, response.text
    body = response.json()
    assert body["error"] == "unsupported_container" and body["detail"], body
    assert "/" + "tmp" not in body["detail"] and str(settings.data_dir) not in body["detail"]
    assert not re.search(r"0x[0-9a-f]{6,}", body["detail"]), body
    assert not opened, "FFmpeg opened a file of the server named by the upload"
    assert stored_state(client, settings) == before


def test_public_messages_drop_ffmpeg_memory_addresses_and_server_paths() -> None:
    path = "/srv/v2m/media/ab/cd/abcd"
    error = CorruptMediaError(
        f"'abcd' looks like a media container but cannot be read: "
        f"[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d1c0a2b3c0] moov atom not found in file:{path}",
        path=path,
    )
    message = public_message(error)
    assert "0x55d1c0a2b3c0" not in message and "@" not in message
    assert "[mov,mp4,m4a,3gp,3g2,mj2] moov atom not found" in message
    assert "/srv" not in message and "abcd" not in message
