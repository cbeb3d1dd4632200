"""The page's own routes (``/``, ``/web/{name}``) and ``GET /catalog/tracks/{id}/audio``.

The page's files are served without a key and name nothing outside the service; a
track's stored media is served with its type, in ranges, behind the read scopes.
"""

from __future__ import annotations

import io
import re

from app.api.routes.track_audio import FALLBACK_TYPE, media_type_for
from app.db.models import Track
from app.web.routes import FILES

MEDIA = bytes(range(256)) * 64  # stands for a stored file: the route serves bytes as stored


def test_the_page_and_its_files_need_no_key_and_load_nothing_from_elsewhere(make_client):
    client = make_client(api_keys="reader=recommend")
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert client.get("/catalog/tracks").status_code == 401  # the data still needs a key
    referenced = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert referenced and all(ref.startswith("/web/") for ref in referenced), referenced
    for name, media_type in FILES.items():
        answer = client.get(f"/web/{name}")
        assert answer.status_code == 200 and answer.headers["content-type"] == media_type
        assert not re.search(r"(?:src|href)=\"https?:|url\(\s*['\"]?https?:|@import", answer.text)
        assert not re.search(r"fetch\(\s*['\"`]https?:", answer.text)


def test_only_the_page_files_are_served(make_client):
    client = make_client()
    for name in ("nope.js", "..%2Froutes.py", "__init__.py"):
        answer = client.get(f"/web/{name}")
        assert answer.status_code == 404 and answer.json()["error"] == "not_found"
    assert "/" not in client.app.openapi()["paths"]


def test_media_types_come_from_the_uploaded_name():
    assert media_type_for("song.flac") == "audio/flac"
    assert media_type_for("clip.mp4") == "video/mp4"
    assert media_type_for("notes.txt") == FALLBACK_TYPE
    assert media_type_for("") == FALLBACK_TYPE


def stored_track(client, filename: str = "song.flac") -> int:
    runtime = client.app.state.runtime
    stored = runtime.media.put(io.BytesIO(MEDIA))
    with runtime.session() as db:
        track = Track(
            title="Song", content_hash=stored.key, media_key=stored.key, original_filename=filename
        )
        db.add(track)
        db.commit()
        return track.id


def test_a_track_is_heard_whole_or_in_ranges(make_client):
    client = make_client(api_keys="reader=recommend;writer=catalog:write")
    track_id = stored_track(client)
    url = f"/catalog/tracks/{track_id}/audio"
    assert client.get(url).status_code == 401
    for key in ("reader", "writer"):
        whole = client.get(url, headers={"X-API-Key": key})
        assert whole.status_code == 200 and whole.content == MEDIA
        assert whole.headers["content-type"] == "audio/flac"
    part = client.get(url, headers={"X-API-Key": "reader", "Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == MEDIA[100:200]


def test_an_unknown_track_or_a_lost_file_is_404(make_client):
    client = make_client()
    assert client.get("/catalog/tracks/999/audio").status_code == 404
    track_id = stored_track(client)
    runtime = client.app.state.runtime
    with runtime.session() as db:
        runtime.media.delete(db.get(Track, track_id).media_key)
    lost = client.get(f"/catalog/tracks/{track_id}/audio")
    assert lost.status_code == 404 and "no longer stored" in lost.json()["detail"]
    assert client.get("/catalog/tracks/0/audio").status_code == 422
