"""`v2m preview VIDEO TRACK_ID -o out.mp4` against a catalog holding one analysed track."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import correlate

from app.db.models import Track, TrackAnalysis, TrackStatus
from app.db.session import session_scope
from app.media_store import MediaStore
from app.migrate import upgrade
from app.settings import Settings, get_settings
from cli.main import main
from ml.media.decode import load_audio, probe
from ml.synth.audio import beat_grid, click_track
from ml.synth.io import write_audio
from ml.synth.shot_video import write_shot_video

SR = 22050


def run_v2m(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return exit_info.value.code


@pytest.fixture
def catalog(tmp_path, monkeypatch) -> tuple[int, Path, np.ndarray, np.ndarray]:
    """A migrated catalog whose one ready track (40 s at 120 bpm over seeded noise) has
    its analysis stored as ingestion stores it; the track's id, a 9 s video of shots,
    the track's samples and downbeats."""
    monkeypatch.setenv("V2M_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    settings = Settings(data_dir=tmp_path / "var")
    upgrade(settings.sqlalchemy_url)
    beats, downbeats = beat_grid(120.0, 40.0)
    samples = 0.5 * click_track(beats, downbeats, 40.0, SR)
    samples += np.random.default_rng(3).normal(0.0, 0.05, samples.size).astype(np.float32)
    stored = MediaStore(settings.media_dir).put_path(write_audio(tmp_path / "t.flac", samples, SR))
    with session_scope(settings.sqlalchemy_url) as db:
        track = Track(
            title="clicks",
            duration_s=40.0,
            content_hash=stored.key,
            media_key=stored.key,
            status=TrackStatus.ready,
        )
        db.add(track)
        db.flush()
        db.add(
            TrackAnalysis(
                track_id=track.id,
                segmenter="olda",
                boundaries=TrackAnalysis.encode(np.array([0.0, 16.0, 32.0, 40.0])),
                beats=TrackAnalysis.encode(beats),
                downbeats=TrackAnalysis.encode(downbeats),
                tempo_bpm=120.0,
                beats_per_bar=4,
            )
        )
        track_id = track.id
    video = tmp_path / "shots.mp4"
    write_shot_video(video, 9.0, fps=12.0, seed=2, width=96, height=54)
    yield track_id, video, samples, downbeats
    get_settings.cache_clear()


def test_preview_renders_the_video_with_the_planned_music(catalog, tmp_path, capsys) -> None:
    track_id, video, samples, downbeats = catalog
    out = tmp_path / "out.mp4"
    argv = ["preview", str(video), str(track_id), "-o", str(out), "--boundaries", "2,4.5,6"]
    assert run_v2m([*argv, "--start", "10", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["track_id"] == track_id and [c["cut_s"] for c in plan["cuts"]] == [2, 4.5, 6]
    assert probe(out).duration_s == pytest.approx(probe(video).duration_s, abs=0.1)
    rendered = load_audio(out, sr=SR)
    first = plan["spans"][0]
    window = rendered[int(0.1 * SR) : int(min(first["video_end_s"] - 0.1, 3.0) * SR)]
    xc = correlate(samples, window, mode="valid", method="fft")
    found = np.argmax(np.abs(xc)) / SR - 0.1
    assert found == pytest.approx(first["track_start_s"], abs=0.005)
    assert np.min(np.abs(downbeats - (found + plan["lead_in_s"]))) < 0.03


def test_preview_refuses_an_unknown_track_and_bad_cuts(catalog, tmp_path, capsys) -> None:
    _, video, _, _ = catalog
    out = tmp_path / "out.mp4"
    with pytest.raises(SystemExit, match="no track with id 999"):
        main(["preview", str(video), "999", "-o", str(out)])
    with pytest.raises(SystemExit, match="boundaries"):
        main(["preview", str(video), "1", "-o", str(out), "--boundaries", "a,b"])
    assert not out.exists()
