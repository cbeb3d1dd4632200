"""``POST /similar/section``: a span cut from a catalog track and re-encoded is found in
it, on the track's bars; bad requests are clear 4xx answers."""

from __future__ import annotations

import subprocess

import pytest
from fastapi.testclient import TestClient

from app.db.session import session_scope
from app.main import create_app
from app.migrate import upgrade
from app.services.models import register_model
from app.settings import Settings
from cli.catalog import activate
from ml.synth import timbre_sections, write_audio
from tests.app.services.test_model_kinds import tiny_two_branch

SR = 22050
#: Two bars (4 s at 120 bpm) per instrument, each instrument once: every four-bar
#: window of the track is music no other window holds.
INSTRUMENTS = [
    "piano", "bell", "saw_synth", "sine", "organ", "square_lead", "pluck", "bass", "strings",
    "sine_pad",
]  # fmt: skip
BAR_S = 2.0
CUT_START_S, CUT_S = 13.3, 16.0


@pytest.fixture(scope="module")
def served(tmp_path_factory, rows_module):
    """A catalog of one 40 s track of known bars, embedded by a Seg-VM-Net with random
    weights (its music branch is a fixed function: the same music, the same
    embeddings), and the excerpt ``CUT_START_S`` + ``CUT_S`` s re-encoded as MP3."""
    folder = tmp_path_factory.mktemp("sections")
    settings = Settings(data_dir=folder / "var")
    upgrade(settings.sqlalchemy_url)
    y = timbre_sections([2 * BAR_S] * len(INSTRUMENTS), INSTRUMENTS, [120.0] * 10, SR)[0]
    track = write_audio(folder / "track.flac", y, SR)
    excerpt = folder / "excerpt.mp3"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-ss", str(CUT_START_S), "-t", str(CUT_S), "-i", str(track)]
        + ["-c:a", "libmp3lame", "-b:a", "128k", str(excerpt)],
        check=True,
    )
    exported = tiny_two_branch("segvmnet")(folder / "export", folder)
    with session_scope(settings.sqlalchemy_url) as db:
        track_id = rows_module.ready_track(db, settings, track, "phrases")
        name = register_model(db, exported, settings.model_dir).name
    activate(settings, name)  # analyses and embeds the track (the re-embed job)
    with TestClient(create_app(settings)) as client:
        yield client, track_id, excerpt


@pytest.fixture(scope="module")
def rows_module():
    from tests.conftest import CatalogRows

    return CatalogRows


def test_an_uploaded_excerpt_is_found_within_a_bar_of_where_it_was_cut(served) -> None:
    client, track_id, excerpt = served
    answer = client.post("/similar/section", files={"file": ("x.mp3", excerpt.read_bytes())})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["method"] == "sw_dtw" and body["space"] == "music_branch"
    best = body["results"][0]
    assert best["track_id"] == track_id and best["on_downbeats"]
    # The span starts on a downbeat of the track, within a bar of where the cut began
    # (the query's own first matched downbeat, query_start_s into the excerpt).
    assert abs(best["start_s"] - best["query_start_s"] - CUT_START_S) < BAR_S / 2
    assert abs(best["start_s"] - CUT_START_S) <= BAR_S
    assert best["end_s"] <= CUT_START_S + CUT_S + BAR_S
    assert best["end_s"] - best["start_s"] >= CUT_S / 2


def test_a_span_of_a_catalog_track_leaves_the_track_out(served) -> None:
    client, track_id, _ = served
    answer = client.post(
        "/similar/section", params={"track_id": track_id, "start_s": 8, "end_s": 24}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["results"] == [] and body["query"] == {
        "track_id": track_id,
        "start_s": 8.0,
        "end_s": 24.0,
    }


@pytest.mark.parametrize(
    "params, detail",
    [
        ({}, "exactly one of track_id or file"),
        ({"track_id": 1}, "start_s and end_s"),
        ({"track_id": 1, "start_s": 10, "end_s": 5}, "not inside track"),
        ({"track_id": 1, "start_s": 10, "end_s": 99}, "not inside track"),
    ],
)
def test_bad_spans_are_422(served, params, detail) -> None:
    client, _, _ = served
    answer = client.post("/similar/section", params=params)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "invalid_request" and detail in answer.json()["detail"]


def test_an_unknown_track_is_404(served) -> None:
    client, _, _ = served
    answer = client.post("/similar/section", params={"track_id": 999, "start_s": 0, "end_s": 4})
    assert answer.status_code == 404 and answer.json()["error"] == "not_found"
