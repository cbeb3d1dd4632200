"""The preview, rendered by FFmpeg and checked from the file: its duration, the plan's
spans found in its audio by cross-correlation against the source track, the joins on
the track's downbeats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.signal import correlate

from ml.edit.plan import TrackStructure, plan_edit
from ml.edit.render import edited_audio, render_edit, render_preview
from ml.media.decode import load_audio, probe
from ml.media.errors import NoVideoStreamError
from ml.synth.audio import beat_grid, click_track
from ml.synth.io import write_audio
from ml.synth.shot_video import write_shot_video

SR = 22050
FPS = 12.0


def noisy_click_track(duration_s: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A metronome at 120 bpm over seeded noise, so that every instant of the track is
    unlike every other (cross-correlation finds each span in one place); its samples
    and its downbeats."""
    beats, downbeats = beat_grid(120.0, duration_s)
    clicks = click_track(beats, downbeats, duration_s, SR)
    noise = np.random.default_rng(seed).normal(0.0, 0.05, clicks.size).astype(np.float32)
    return 0.5 * clicks + noise, downbeats


def locate(window: np.ndarray, track: np.ndarray) -> float:
    """Where (s) in ``track`` the ``window`` of audio is, by normalised cross-correlation."""
    xc = correlate(track, window - window.mean(), mode="valid", method="fft")
    power = np.concatenate([[0.0], np.cumsum(track.astype(np.float64) ** 2)])
    energy = power[window.size :] - power[: -window.size]
    return float(np.argmax(np.abs(xc) / np.sqrt(energy + 1e-12))) / SR


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> tuple[Path, Path, np.ndarray, np.ndarray, np.ndarray]:
    """A 12 s video of random shots and a 10 s track (so the music repeats a section)."""
    folder = tmp_path_factory.mktemp("preview")
    video = folder / "shots.mp4"
    cut_frames = write_shot_video(video, 12.0, fps=FPS, seed=5, width=96, height=54)
    samples, downbeats = noisy_click_track(10.0, seed=9)
    track = write_audio(folder / "track.flac", samples, SR)
    return video, track, samples, downbeats, cut_frames / FPS


def test_the_rendered_preview_plays_the_plans_spans_with_joins_on_downbeats(
    media, tmp_path
) -> None:
    video, track, samples, downbeats, cuts = media
    structure = TrackStructure(10.0, downbeats, np.zeros(0), np.array([4.0, 8.0]))
    check_rendered(video, track, samples, downbeats, cuts, structure, tmp_path)


def test_a_three_minute_video_gets_its_preview(tmp_path) -> None:
    """The length a supervisor sends: a 3-minute video over a 70 s track (sections at
    16, 32 and 48 s), which the plan repeats."""
    video = tmp_path / "long.mp4"
    cut_frames = write_shot_video(video, 180.0, fps=4.0, seed=11, width=64, height=36)
    samples, downbeats = noisy_click_track(70.0, seed=12)
    track = write_audio(tmp_path / "long.flac", samples, SR)
    structure = TrackStructure(70.0, downbeats, np.zeros(0), np.array([16.0, 32.0, 48.0]))
    check_rendered(video, track, samples, downbeats, cut_frames / 4.0, structure, tmp_path)


def check_rendered(video, track, samples, downbeats, cuts, structure, folder: Path) -> None:
    """Render the plan of ``video`` over ``track`` and check the file: the video's
    duration, each span's audio found where the plan took it from, joins and the cuts
    the plan claims on downbeats (within 30 ms)."""
    duration = probe(video).duration_s
    plan = plan_edit(duration, cuts, structure)
    assert len(plan.spans) >= 2  # the track is shorter than the video
    out = render_edit(video, track, plan, folder / "preview.mp4", sr=SR)

    info = probe(out)
    assert info.video_codec == "h264" and info.has_audio
    assert info.duration_s == pytest.approx(duration, abs=0.1)  # the video, copied
    rendered = load_audio(out, sr=SR)
    assert rendered.size / SR == pytest.approx(duration, abs=0.1)
    margin = 0.1  # clear of the crossfades
    for span in plan.spans:
        if span.video_end_s - span.video_start_s < 4 * margin:
            continue
        a = int(round((span.video_start_s + margin) * SR))
        b = int(round((span.video_end_s - margin) * SR))
        found = locate(rendered[a:b], samples) - margin
        assert found == pytest.approx(span.track_start_s, abs=0.005)
        if span.video_start_s > 0:  # a join: the music resumes on a downbeat
            assert np.min(np.abs(downbeats - found)) < 0.03
    # What the plan says about the cuts holds in the file: the downbeat nearest each
    # cut sits where the plan put it.
    for cut in plan.cuts:
        at = cut.cut_s + cut.miss_s
        a = int(round((at + margin) * SR))
        piece = rendered[a : a + int(0.5 * SR)]
        if piece.size < int(0.5 * SR):
            continue
        resumed = locate(piece, samples) - margin
        assert np.min(np.abs(downbeats - resumed)) < 0.03


def test_the_plans_audio_is_as_long_as_the_video_and_fades_out(media) -> None:
    _, _, samples, downbeats, cuts = media
    structure = TrackStructure(10.0, downbeats, np.zeros(0), np.array([4.0]))
    plan = plan_edit(7.3, cuts[cuts < 7.3], structure, anchor_s=0.0)
    audio = edited_audio(plan, samples, SR)
    assert audio.shape == (round(7.3 * SR),) and audio.dtype == np.float32
    assert plan.ending == "fade"
    assert abs(audio[-10:]).max() < 1e-3 * abs(audio).max()
    with pytest.raises(ValueError, match="non-empty"):
        edited_audio(plan, np.zeros(0), SR)


def test_a_file_without_pictures_gets_a_clear_error(media, tmp_path) -> None:
    _, track, samples, _, _ = media
    with pytest.raises(NoVideoStreamError):
        render_preview(track, samples, SR, tmp_path / "out.mp4")
    assert not list(tmp_path.iterdir())
