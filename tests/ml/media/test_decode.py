"""Decoding real files: correct signals and pictures, and a precise error for each broken file."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from ml.media import errors
from ml.media.decode import load_audio, load_video_frames, probe
from ml.media.errors import (
    CorruptMediaError,
    DecodeTimeoutError,
    EmptyFileError,
    MediaError,
    MediaTooLongError,
    MediaTooShortError,
    NoAudioStreamError,
    NotMediaError,
    NoVideoStreamError,
    SilentAudioError,
    UnsupportedCodecError,
)


def sine(freq_hz: float, duration_s: float, sr: int, amplitude: float) -> np.ndarray:
    t = np.arange(round(duration_s * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def dominant_frequency(y: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    return float(np.argmax(spectrum) * sr / y.size)


# --------------------------------------------------------------------------- #
# Correct decoding
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("sr", [22050, 16000, 44100])
def test_tone_decodes_to_its_frequency_at_the_requested_rate(media, sr):
    y = load_audio(media.tone_wav, sr)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(y.size - 3 * sr) <= 2
    assert dominant_frequency(y, sr) == pytest.approx(440.0, abs=1.0)
    assert np.max(np.abs(y)) == pytest.approx(0.5, abs=0.01)


def test_soundtrack_of_a_video_decodes(media):
    y = load_audio(media.colour_video, 22050)
    assert y.size / 22050 == pytest.approx(3.0, abs=0.1)  # AAC adds priming/padding
    assert dominant_frequency(y, 22050) == pytest.approx(440.0, abs=1.0)


def test_stereo_is_mixed_down_to_the_mean_of_the_channels(media):
    y = load_audio(media.stereo_wav, media.sr)
    expected = 0.5 * (sine(440, 2, media.sr, 0.4) + sine(440, 2, media.sr, 0.2))
    np.testing.assert_allclose(y, expected, atol=1e-4)


def test_probe_reports_streams_and_duration(media):
    info = probe(media.colour_video)
    assert info.duration_s == pytest.approx(3.0, abs=0.1)
    assert (info.has_audio, info.has_video) == (True, True)
    assert (info.audio_codec, info.video_codec) == ("aac", "h264")
    assert (info.sample_rate, info.channels) == (media.sr, 1)
    assert (info.width, info.height, info.fps) == (64, 48, 25.0)
    assert info.size_bytes == os.path.getsize(media.colour_video)

    audio = probe(media.tone_wav)
    assert audio.duration_s == pytest.approx(3.0, abs=1e-3)
    assert (audio.has_audio, audio.has_video, audio.audio_codec) == (True, False, "pcm_s16le")
    assert audio.width is audio.height is audio.fps is audio.video_codec is None


def test_cover_art_is_not_a_video_stream(media):
    info = probe(media.mp3_with_cover)
    assert info.has_audio and not info.has_video
    with pytest.raises(NoVideoStreamError):
        load_video_frames(media.mp3_with_cover, 1, 32, 24)
    assert dominant_frequency(load_audio(media.mp3_with_cover), 22050) == pytest.approx(440, abs=1)


def test_coloured_shots_decode_to_their_colours(media):
    frames = load_video_frames(media.colour_video, 1, 16, 12)
    assert frames.shape == (3, 12, 16, 3) and frames.dtype == np.uint8
    for frame, colour in zip(frames, media.colours):
        np.testing.assert_allclose(frame.reshape(-1, 3).mean(0), colour, atol=6)
    assert frames.flags.writeable


def test_frame_rate_and_size(media):
    native = load_video_frames(media.colour_video, None, 48, 27)
    assert native.shape == (75, 27, 48, 3)
    four_hz = load_video_frames(media.colour_video, 4, 32, 24)
    assert four_hz.shape == (12, 24, 32, 3)
    # Frame i shows time i / fps: frames 0-3 the first shot, 4-7 the second...
    means = four_hz.reshape(12, -1, 3).mean(1)
    for i, mean in enumerate(means):
        np.testing.assert_allclose(mean, media.colours[i // 4], atol=6)


def test_frames_equal_those_of_the_plain_ffmpeg_command(media):
    """TransNetV2's own loader runs ``ffmpeg -i FILE -f rawvideo -pix_fmt rgb24
    -s 48x27``: at the native rate our frames must be the same bytes."""
    import subprocess

    plain = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(media.colour_video), "-f", "rawvideo",
         "-pix_fmt", "rgb24", "-s", "48x27", "pipe:1"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    ours = load_video_frames(media.colour_video, None, 48, 27)
    assert ours.tobytes() == plain


# --------------------------------------------------------------------------- #
# One precise error per broken file
# --------------------------------------------------------------------------- #


def test_every_error_is_a_value_error_with_its_own_reason():
    classes = [getattr(errors, name) for name in errors.__all__ if name != "FFmpegNotFoundError"]
    assert all(issubclass(c, MediaError) and issubclass(c, ValueError) for c in classes)
    reasons = [c.reason for c in classes]
    assert len(set(reasons)) == len(reasons)
    assert NotMediaError("x", path="/a").reason == "not_media"


def test_zero_bytes(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.touch()
    for load in (probe, load_audio, lambda p: load_video_frames(p, 1, 8, 8)):
        with pytest.raises(EmptyFileError) as caught:
            load(empty)
        assert caught.value.reason == "empty_file" and caught.value.path == str(empty)


def test_text_renamed_mp4(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("Shot list for the trailer:\n1. sunrise\n2. city\n" * 20)
    with pytest.raises(NotMediaError):
        load_audio(text)


@pytest.mark.parametrize("suffix", [".mp4", ".wav", ".mp3", ".mkv", ".bin"])
def test_random_bytes(tmp_path, suffix):
    junk = tmp_path / f"junk{suffix}"
    junk.write_bytes(np.random.default_rng(7).bytes(30_000))
    with pytest.raises(NotMediaError):
        probe(junk)


@pytest.mark.parametrize("image", ["png", "jpeg"])
def test_a_still_image_is_not_media(media, image):
    path = getattr(media, image)
    with pytest.raises(NotMediaError, match="still image"):
        probe(path)
    with pytest.raises(NotMediaError):
        load_video_frames(path, 1, 8, 8)


def test_a_still_gif_is_an_image_and_an_animated_one_a_video(tmp_path):
    import subprocess

    still, animated = tmp_path / "still.gif", tmp_path / "animated.gif"
    for source, target in (("color=red:s=64x48", still), ("testsrc=s=64x48:r=10:d=2", animated)):
        subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", source, "-frames:v",
                        "1" if target == still else "20", str(target)], check=True)  # fmt: skip
    with pytest.raises(NotMediaError, match="still image"):
        probe(still)
    assert load_video_frames(animated, 4, 8, 8).shape == (8, 8, 8, 3)


def test_missing_ffmpeg_is_a_deployment_error(media, monkeypatch):
    from ml.media import decode

    monkeypatch.setattr(decode, "FFPROBE", "ffprobe-that-is-not-installed")
    with pytest.raises(errors.FFmpegNotFoundError):
        probe(media.tone_wav)


def test_truncated_mp4_with_index_at_the_end(media, tmp_path):
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(media.video_moov_last.read_bytes()[:20_000])
    for load in (probe, load_audio, lambda p: load_video_frames(p, 1, 8, 8)):
        with pytest.raises(CorruptMediaError):
            load(cut)


def test_truncated_mp4_with_index_at_the_start(media, tmp_path):
    data = media.video_faststart.read_bytes()
    cut = tmp_path / "cut_faststart.mp4"
    cut.write_bytes(data[: len(data) // 3])
    assert probe(cut).duration_s == pytest.approx(6.0, abs=0.1)  # the header still says 6 s
    with pytest.raises(CorruptMediaError, match="truncated"):
        load_audio(cut)
    with pytest.raises(CorruptMediaError, match="truncated"):
        load_video_frames(cut, 4, 16, 12)


@pytest.mark.parametrize("name", ["audio_m4a", "tone_wav"])
def test_audio_only_where_video_is_needed(media, name):
    with pytest.raises(NoVideoStreamError):
        load_video_frames(getattr(media, name), 1, 48, 27)


def test_video_without_audio(media):
    with pytest.raises(NoAudioStreamError):
        load_audio(media.silent_video)
    assert load_video_frames(media.silent_video, 1, 8, 8).shape == (3, 8, 8, 3)


def test_too_short(media):
    with pytest.raises(MediaTooShortError):
        load_audio(media.half_second)  # default minimum: 1 s
    with pytest.raises(MediaTooShortError):
        load_audio(media.one_second, min_duration_s=2.0)
    assert load_audio(media.one_second).size == 22050  # exactly the minimum passes


def test_too_long(media):
    with pytest.raises(MediaTooLongError):
        load_audio(media.tone_wav, max_duration_s=2.0)
    with pytest.raises(MediaTooLongError):
        load_video_frames(media.colour_video, 1, 8, 8, max_duration_s=2.0)
    assert load_audio(media.tone_wav, max_duration_s=3.0).size == 3 * 22050


def test_silent_audio(media):
    with pytest.raises(SilentAudioError):
        load_audio(media.silent_wav)
    y = load_audio(media.silent_wav, allow_silent=True)
    assert y.size == 3 * 22050 and not np.any(y)


def test_unsupported_codec(media):
    info = probe(media.unknown_codec_wav)
    assert info.has_audio and info.audio_codec == "unknown"
    with pytest.raises(UnsupportedCodecError):
        load_audio(media.unknown_codec_wav)


def test_timeout(media):
    with pytest.raises(DecodeTimeoutError):
        load_audio(media.long_wav, timeout_s=0.05)
    with pytest.raises(DecodeTimeoutError):
        probe(media.long_wav, timeout_s=1e-6)
    assert load_audio(media.long_wav, 8000).size == 180 * 8000  # no limit problem otherwise


@pytest.mark.parametrize(
    "name",
    [
        "-leading-dash.wav",
        "--help.wav",
        "new\nline.wav",
        "quotes ' \" and spaces.wav",
        "$(touch pwned) `id`; rm -rf x.wav",
        "http:colon.wav",
        "percent %d %s.wav",
        "Ünïcødé 音楽.wav",
    ],
)
def test_hostile_file_names(media, tmp_path, name):
    hostile = tmp_path / name
    shutil.copyfile(media.tone_wav, hostile)
    np.testing.assert_array_equal(load_audio(hostile), load_audio(media.tone_wav))
    assert probe(hostile).duration_s == pytest.approx(3.0, abs=1e-3)
    assert not (tmp_path / "pwned").exists()


def test_missing_paths_and_special_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        probe(tmp_path / "nowhere.mp4")
    with pytest.raises(IsADirectoryError):
        load_audio(tmp_path)
    fifo = tmp_path / "fifo.wav"
    os.mkfifo(fifo)  # opening it for reading would block forever
    with pytest.raises(NotMediaError, match="regular file"):
        load_audio(fifo)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sr": 0},
        {"sr": 22050.5},
        {"min_duration_s": -1.0},
        {"max_duration_s": 0.0},
        {"timeout_s": 0.0},
    ],
)
def test_bad_arguments_raise_value_error_not_media_error(media, kwargs):
    with pytest.raises(ValueError) as caught:
        load_audio(media.tone_wav, **kwargs)
    assert not isinstance(caught.value, MediaError)


@pytest.mark.parametrize("fps, width, height", [(0, 8, 8), (-1.0, 8, 8), (1, 0, 8), (1, 8, -2)])
def test_bad_frame_arguments(media, fps, width, height):
    with pytest.raises(ValueError) as caught:
        load_video_frames(media.colour_video, fps, width, height)
    assert not isinstance(caught.value, MediaError)


def test_path_like_and_string_paths_agree(media):
    assert probe(str(media.tone_wav)) == probe(Path(media.tone_wav))
