"""Audio and picture primitives, and the ffmpeg writers."""

from __future__ import annotations

import numpy as np
import pytest

from ml.synth import (
    MediaWriteError,
    ShotLook,
    SynthSpecError,
    beat_grid,
    click_track,
    render_shot,
    shots_video,
    timbre_sections,
    tone,
    write_audio,
    write_video,
)
from ml.synth.audio import chord_midi, midi_to_hz
from ml.synth.video import texture

SR = 22050


def spectral_peak_hz(y: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(np.fft.rfftfreq(len(y), 1 / sr)[np.argmax(spectrum)])


def spectral_centroid_hz(y: np.ndarray, sr: int, above_hz: float = 0.0) -> float:
    power = np.abs(np.fft.rfft(y)) ** 2
    freqs = np.fft.rfftfreq(len(y), 1 / sr)
    keep = freqs >= above_hz
    return float((freqs[keep] * power[keep]).sum() / power[keep].sum())


def test_tone_has_its_pitch_length_and_peak():
    y = tone(440.0, 0.5, SR, timbre="organ", amplitude=0.5)
    assert y.dtype == np.float32 and len(y) == SR // 2
    assert abs(spectral_peak_hz(y, SR) - 440.0) < 4.0
    assert 0.3 < np.abs(y).max() <= 0.5


def test_tone_rolloff_sets_brightness():
    bright = tone(220.0, 0.5, SR, timbre="saw_synth", rolloff=0.8)
    dull = tone(220.0, 0.5, SR, timbre="saw_synth", rolloff=3.0)
    assert spectral_centroid_hz(bright, SR) > 2 * spectral_centroid_hz(dull, SR)


def test_tone_drops_partials_above_nyquist():
    y = tone(3000.0, 0.25, 8000, timbre="square_lead")
    spectrum = np.abs(np.fft.rfft(y))
    freqs = np.fft.rfftfreq(len(y), 1 / 8000)
    # Partial 3 would be at 9 kHz and fold back to 1 kHz if it were synthesised.
    assert spectrum[np.abs(freqs - 1000) < 20].max() < 1e-3 * spectrum.max()


def test_tone_rejects_bad_arguments():
    with pytest.raises(SynthSpecError):
        tone(-1.0, 1.0, SR)
    with pytest.raises(SynthSpecError):
        tone(440.0, 1.0, 0)


def test_chords_stay_within_an_octave_and_follow_the_key():
    for degree in range(7):
        notes = chord_midi(key_root=2, mode="major", degree=degree)
        assert all(57 <= n < 69 for n in notes)
        assert {n % 12 for n in notes} <= {(2 + s) % 12 for s in (0, 2, 4, 5, 7, 9, 11)}
    assert sorted(n % 12 for n in chord_midi(0, "minor", 0)) == [0, 3, 7]
    assert midi_to_hz(69) == pytest.approx(440.0)


def test_beat_grid_and_click_track_accent_downbeats():
    beats, downbeats = beat_grid(120.0, 4.0, beats_per_bar=4)
    np.testing.assert_allclose(beats, np.arange(8) * 0.5)
    np.testing.assert_allclose(downbeats, [0.0, 2.0])
    y = click_track(beats, downbeats, 4.0, SR)
    assert len(y) == 4 * SR
    energy = [float(np.sum(y[int(b * SR) : int(b * SR) + 600] ** 2)) for b in beats]
    assert min(energy[0], energy[4]) > 2 * max(energy[1:4] + energy[5:])
    with pytest.raises(SynthSpecError):
        beat_grid(0.0, 4.0)


def test_timbre_sections_change_timbre_at_their_boundaries():
    y, bounds, beats, downbeats = timbre_sections(
        [3.0, 3.0], ["sine_pad", "saw_synth"], [90.0, 130.0], SR
    )
    np.testing.assert_allclose(bounds, [0.0, 3.0, 6.0])
    assert len(y) == 6 * SR
    first, second = y[: 3 * SR], y[3 * SR :]
    # Above the kick drum, the saw is far brighter than the sine pad.
    assert spectral_centroid_hz(second, SR, 150.0) > 1.5 * spectral_centroid_hz(first, SR, 150.0)
    assert np.all(np.isin(downbeats, beats))
    assert np.diff(beats[beats >= 3.0]).mean() == pytest.approx(60 / 130, abs=1e-6)


@pytest.mark.parametrize("kind", ["stripes", "checker", "blobs"])
def test_textures_are_bounded_and_periodic(kind):
    rng = np.random.default_rng(0)
    tex = texture(kind, 64, 36, 4, rng)
    assert tex.shape == (36, 64) and tex.dtype == np.float32
    assert -1.0001 <= tex.min() < 0 < tex.max() <= 1.0001
    # Periodic: the wrap-around step is no larger than the steps inside.
    assert np.abs(tex[:, 0] - tex[:, -1]).max() <= np.abs(np.diff(tex, axis=1)).max() + 1e-5
    with pytest.raises(SynthSpecError):
        texture("plaid", 64, 36, 4, rng)


def test_render_shot_moves_and_keeps_its_palette():
    look = ShotLook(hue=0.6, value=0.7, motion_px_s=40.0, n_objects=0)
    frames = render_shot(look, 25, 25.0, 64, 36, np.random.default_rng(1))
    assert frames.shape == (25, 36, 64, 3) and frames.dtype == np.uint8
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 1.0  # it moves
    # A periodic background scrolled over the whole frame keeps its colours.
    np.testing.assert_allclose(frames[0].mean(axis=(0, 1)), frames[-1].mean(axis=(0, 1)), atol=1.0)
    blue = frames.reshape(-1, 3).mean(axis=0)
    assert blue[2] > blue[0]  # hue 0.6 is blue


def test_objects_pulse_on_the_beat():
    look = ShotLook(hue=0.1, motion_px_s=0.0, n_objects=3, pulse=0.5, texture_contrast=0.0)
    frames = render_shot(look, 25, 25.0, 96, 54, np.random.default_rng(2), beats_s=np.array([0.5]))
    background = frames[0, 0, 0]
    area = [(np.abs(f.astype(int) - background).sum(axis=2) > 30).sum() for f in frames]
    assert area[13] > area[10]  # swollen right after the beat at frame 12.5


def test_shots_video_cuts_where_asked(media):
    looks = [ShotLook(hue=h, value=v) for h, v in ((0.0, 0.8), (0.33, 0.5), (0.66, 0.7))]
    frames, cuts = shots_video([1.0, 0.6, 1.4], looks, fps=25.0, width=64, height=36, seed=3)
    np.testing.assert_array_equal(cuts, [0, 25, 40, 75])
    assert len(frames) == 75
    jumps = media.histogram_jumps(frames)
    assert set(np.argsort(jumps)[-2:] + 1) == {25, 40}
    with pytest.raises(SynthSpecError):
        shots_video([1.0], looks[:1], width=63)


def test_write_audio_round_trips(tmp_path, media):
    y = tone(330.0, 1.0, SR, timbre="piano", amplitude=0.5)
    for ext in ("wav", "flac", "m4a"):
        path = write_audio(tmp_path / f"t.{ext}", y, SR)
        info = media.ffprobe(path)
        assert float(info["format"]["duration"]) == pytest.approx(1.0, abs=0.05)
    decoded = media.decode_audio(tmp_path / "t.flac", SR)
    np.testing.assert_allclose(decoded[: len(y)], y, atol=1e-4)
    assert not list(tmp_path.glob(".*partial*"))


def test_write_video_with_audio_is_h264_and_aac(tmp_path, media):
    looks = [ShotLook(hue=0.1), ShotLook(hue=0.6)]
    frames, _ = shots_video([1.0, 1.0], looks, fps=25.0, width=64, height=36)
    y = tone(220.0, 2.0, SR)
    path = write_video(tmp_path / "v.mp4", frames, 25.0, y, SR)
    streams = {s["codec_type"]: s for s in media.ffprobe(path)["streams"]}
    assert streams["video"]["codec_name"] == "h264" and streams["audio"]["codec_name"] == "aac"
    assert (streams["video"]["width"], streams["video"]["height"]) == (64, 36)
    assert int(streams["video"]["nb_frames"]) == 50
    decoded = media.decode_frames(path, 64, 36)
    assert (
        np.abs(decoded.astype(int) - frames.astype(int)).mean() < 8
    )  # lossy, but the same picture


def test_write_video_streams_an_iterator(tmp_path, media):
    frames, _ = shots_video([0.4], [ShotLook(hue=0.3)], fps=25.0, width=32, height=32)
    path = write_video(tmp_path / "it.mp4", iter(frames), 25.0)
    assert int(media.ffprobe(path)["streams"][0]["nb_frames"]) == 10


def test_writers_reject_bad_input_and_report_ffmpeg_failures(tmp_path):
    frames = np.zeros((2, 36, 64, 3), np.uint8)
    with pytest.raises(SynthSpecError):
        write_video(tmp_path / "odd.mp4", np.zeros((2, 35, 64, 3), np.uint8), 25.0)
    with pytest.raises(SynthSpecError):
        write_video(tmp_path / "f.mp4", frames.astype(np.float32), 25.0)
    with pytest.raises(SynthSpecError):
        write_video(tmp_path / "a.mp4", frames, 25.0, audio=np.zeros(100, np.float32))
    with pytest.raises(SynthSpecError):
        write_audio(tmp_path / "nan.wav", np.array([0.0, np.nan]), SR)
    with pytest.raises(SynthSpecError):
        write_audio(tmp_path / "empty.wav", np.zeros(0), SR)
    with pytest.raises(MediaWriteError):
        write_audio(tmp_path / "t.unknownformat", np.zeros(100, np.float32), SR)
    assert not (tmp_path / "t.unknownformat").exists()
    assert not list(tmp_path.glob(".*partial*"))
