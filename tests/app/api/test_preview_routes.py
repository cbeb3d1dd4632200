"""`POST /edit/plan` and `POST /preview` against a catalog holding one analysed track."""

from __future__ import annotations

import numpy as np
import pytest

from app.settings import Settings
from ml.media.decode import load_audio, probe
from tests.edit_catalog import SR, build_edit_catalog, find_in_track


@pytest.fixture
def served(make_client, tmp_path):
    catalog = build_edit_catalog(tmp_path, Settings(data_dir=tmp_path / "var"))
    return make_client(), catalog


def test_the_plan_and_the_preview_of_a_track_under_an_uploaded_video(served, tmp_path) -> None:
    client, catalog = served
    params = {"track_id": catalog.track_id, "boundaries": "2,4,6.5"}
    video = catalog.video.read_bytes()
    answer = client.post("/edit/plan", params=params, files={"file": ("v.mp4", video)})
    assert answer.status_code == 200, answer.text
    plan = answer.json()
    assert plan["track_id"] == catalog.track_id and len(plan["cuts"]) == 3
    assert plan["spans"][-1]["video_end_s"] == pytest.approx(probe(catalog.video).duration_s)

    answer = client.post("/preview", params=params, files={"file": ("v.mp4", video)})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "video/mp4"
    out = tmp_path / "preview.mp4"
    out.write_bytes(answer.content)
    assert probe(out).duration_s == pytest.approx(probe(catalog.video).duration_s, abs=0.1)
    rendered = load_audio(out, sr=SR)
    for span in plan["spans"]:
        a, b = (
            span["video_start_s"] + 0.1,
            min(span["video_end_s"] - 0.1, span["video_start_s"] + 3),
        )
        if b - a < 0.3:
            continue
        found = find_in_track(rendered[int(a * SR) : int(b * SR)], catalog.samples) - 0.1
        assert found == pytest.approx(span["track_start_s"], abs=0.005)
        if span["video_start_s"] > 0:
            assert np.min(np.abs(catalog.downbeats - found)) < 0.03


def test_an_unknown_track_is_404_and_bad_cuts_422(served) -> None:
    client, catalog = served
    video = catalog.video.read_bytes()
    answer = client.post("/preview", params={"track_id": 999}, files={"file": ("v.mp4", video)})
    assert answer.status_code == 404 and answer.json()["error"] == "not_found"
    answer = client.post(
        "/edit/plan",
        params={"track_id": catalog.track_id, "boundaries": "x"},
        files={"file": ("v.mp4", video)},
    )
    assert answer.status_code == 422 and "boundaries" in answer.json()["detail"]
