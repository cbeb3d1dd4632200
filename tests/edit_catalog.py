"""A catalog holding one analysed track of known downbeats, and a video of shots: shared
by the command-line and HTTP tests of the edit plan and the preview."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.db.models import Track, TrackAnalysis, TrackStatus
from app.db.session import session_scope
from app.media_store import MediaStore
from app.migrate import upgrade
from app.settings import Settings
from ml.synth.audio import beat_grid, click_track
from ml.synth.io import write_audio
from ml.synth.shot_video import write_shot_video

SR = 22050


@dataclass(frozen=True)
class EditCatalog:
    track_id: int
    video: Path
    samples: np.ndarray  # (n,) the track at SR
    downbeats: np.ndarray  # (n_downbeats,) seconds


def build_edit_catalog(folder: Path, settings: Settings) -> EditCatalog:
    """Migrate ``settings``' database and store one ready track (40 s at 120 bpm over
    seeded noise, so that cross-correlation finds each of its spans in one place) with
    its analysis as ingestion stores it (sections at 16 and 32 s); write a 9 s video of
    shots beside it."""
    upgrade(settings.sqlalchemy_url)
    beats, downbeats = beat_grid(120.0, 40.0)
    samples = 0.5 * click_track(beats, downbeats, 40.0, SR)
    samples += np.random.default_rng(3).normal(0.0, 0.05, samples.size).astype(np.float32)
    stored = MediaStore(settings.media_dir).put_path(write_audio(folder / "t.flac", samples, SR))
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
    video = folder / "shots.mp4"
    write_shot_video(video, 9.0, fps=12.0, seed=2, width=96, height=54)
    return EditCatalog(track_id, video, samples, downbeats)


def find_in_track(audio: np.ndarray, samples: np.ndarray) -> float:
    """Where (s) ``audio`` lies in the track's ``samples``, by normalised
    cross-correlation."""
    from scipy.signal import correlate

    xc = correlate(samples, audio - audio.mean(), mode="valid", method="fft")
    power = np.concatenate([[0.0], np.cumsum(samples.astype(np.float64) ** 2)])
    energy = power[audio.size :] - power[: -audio.size]
    return float(np.argmax(np.abs(xc) / np.sqrt(energy + 1e-12))) / SR
