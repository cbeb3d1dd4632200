"""Real media for the decoding, structure and beat tests, generated once per session.

Decoding: signals and pictures are made with numpy and encoded by ffmpeg through pipes;
broken files are made the way they occur in practice (a download cut short, a
text file renamed, an image uploaded instead of a video).

Structure: ``sectioned_song`` has sections that differ in key, timbre and tempo, with
drums, at known boundaries (the truth for MSAF's boundary detection); ``second_song``
is another, shorter one as a compressed file. The click tracks of the beat tests are
in ``tests/ml/conftest.py`` (the analysis tests use them too).
"""

from __future__ import annotations

import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

SR = 44100
FPS = 25
# Colours far from each other and from the yuv420p gamut edges, so that they
# survive H.264 encoding within a few levels.
COLOURS = ((200, 40, 40), (40, 180, 60), (50, 60, 200))


def ffmpeg(*args: str, stdin: bytes | None = None) -> None:
    """Run ffmpeg (no shell), failing loudly with its own message."""
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y", *args]
    result = subprocess.run(cmd, input=stdin, capture_output=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg {' '.join(args)} failed: {result.stderr.decode()}")


def sine(freq_hz: float, duration_s: float, sr: int = SR, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(duration_s * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def write_audio(path: Path, channels: np.ndarray, sr: int = SR, *codec: str) -> Path:
    """Encode ``(n,)`` or ``(n, channels)`` float samples; format from the suffix."""
    samples = np.asarray(channels, dtype="<f4")
    n_channels = 1 if samples.ndim == 1 else samples.shape[1]
    ffmpeg("-f", "f32le", "-ar", str(sr), "-ac", str(n_channels), "-i", "pipe:0",
           *codec, str(path), stdin=samples.tobytes())  # fmt: skip
    return path


def colour_frames(colours: tuple[tuple[int, int, int], ...], seconds_each: float,
                  size: tuple[int, int] = (64, 48)) -> np.ndarray:  # fmt: skip
    """Solid-colour shots with hard cuts, ``(n, h, w, 3)`` uint8."""
    w, h = size
    n_each = round(seconds_each * FPS)
    return np.concatenate(
        [np.broadcast_to(np.array(c, np.uint8), (n_each, h, w, 3)) for c in colours]
    )


def write_video(path: Path, frames: np.ndarray, audio: np.ndarray | None = None,
                *extra: str) -> Path:  # fmt: skip
    """Encode RGB frames (H.264) and optionally mono audio (AAC) to ``path``."""
    _, h, w, _ = frames.shape
    args = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(FPS),
            "-i", "pipe:0"]  # fmt: skip
    data = np.ascontiguousarray(frames).tobytes()
    if audio is not None:
        # A second pipe is awkward; the audio goes through a temporary WAV.
        wav = write_audio(path.with_suffix(".src.wav"), audio)
        args += ["-i", str(wav), "-map", "0:v", "-map", "1:a", "-c:a", "aac"]
    ffmpeg(*args, "-c:v", "libx264", "-pix_fmt", "yuv420p", *extra, str(path), stdin=data)
    return path


def wav_with_format_tag(path: Path, format_tag: int, sr: int = 8000) -> Path:
    """A WAV whose header names codec ``format_tag``, with 2 s of payload."""
    payload = np.random.default_rng(0).integers(-1000, 1000, 2 * sr).astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", format_tag, 1, sr, 2 * sr, 2, 16)
    riff = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    riff += b"data" + struct.pack("<I", len(payload)) + payload
    path.write_bytes(b"RIFF" + struct.pack("<I", len(riff)) + riff)
    return path


@dataclass(frozen=True)
class Media:
    """Paths of the generated files, by what they are."""

    tone_wav: Path  # 3 s, 440 Hz, mono, 44.1 kHz
    stereo_wav: Path  # 2 s, 440 Hz at 0.4 left and 0.2 right
    colour_video: Path  # 3 shots of 1 s (COLOURS) at 25 fps, with a 440 Hz tone
    video_moov_last: Path  # 6 s, index at the end of the file
    video_faststart: Path  # 6 s, index at the start
    silent_video: Path  # video without an audio stream
    audio_m4a: Path  # audio only, AAC in MP4
    one_second: Path  # 1 s tone
    half_second: Path  # 0.5 s tone
    silent_wav: Path
    mp3_with_cover: Path  # MP3 with an embedded PNG cover
    png: Path
    jpeg: Path
    unknown_codec_wav: Path
    long_wav: Path  # 3 min at 8 kHz: decoding it takes a noticeable fraction of a second
    sr: int = SR
    colours: tuple[tuple[int, int, int], ...] = COLOURS


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    d = tmp_path_factory.mktemp("media_decode")
    tone = sine(440.0, 3.0)
    picture = np.zeros((48, 64, 3), np.uint8)
    picture[:, :32] = COLOURS[0]
    picture[:, 32:] = COLOURS[2]
    png = d / "picture.png"
    ffmpeg("-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "64x48", "-i", "pipe:0",
           "-frames:v", "1", str(png), stdin=picture.tobytes())  # fmt: skip
    jpeg = d / "picture.jpg"
    ffmpeg("-i", str(png), str(jpeg))
    mp3 = d / "with_cover.mp3"
    tone_wav = write_audio(d / "tone.wav", tone)
    ffmpeg("-i", str(tone_wav), "-i", str(png), "-map", "0", "-map", "1", "-c:a", "libmp3lame",
           "-c:v", "png", "-disposition:v", "attached_pic", str(mp3))  # fmt: skip
    long_frames = colour_frames(COLOURS + COLOURS, 1.0)
    return Media(
        tone_wav=tone_wav,
        stereo_wav=write_audio(
            d / "stereo.wav",
            np.stack([sine(440, 2, amplitude=0.4), sine(440, 2, amplitude=0.2)], 1),
        ),
        colour_video=write_video(d / "colours.mp4", colour_frames(COLOURS, 1.0), tone),
        video_moov_last=write_video(d / "moov_last.mp4", long_frames, sine(440, 6)),
        video_faststart=write_video(
            d / "faststart.mp4", long_frames, sine(440, 6), "-movflags", "+faststart"
        ),
        silent_video=write_video(d / "no_audio.mp4", colour_frames(COLOURS, 1.0)),
        audio_m4a=write_audio(d / "audio_only.m4a", tone, SR, "-c:a", "aac"),
        one_second=write_audio(d / "one_second.wav", sine(440, 1.0)),
        half_second=write_audio(d / "half_second.wav", sine(440, 0.5)),
        silent_wav=write_audio(
            d / "silence.wav", np.zeros(3 * SR, np.float32), SR, "-c:a", "pcm_s16le"
        ),
        mp3_with_cover=mp3,
        png=png,
        jpeg=jpeg,
        unknown_codec_wav=wav_with_format_tag(d / "unknown_codec.wav", 0x9999),
        long_wav=write_audio(d / "long.wav", sine(440, 180.0, sr=8000), 8000, "-c:a", "pcm_s16le"),
    )


# The sample rate of the structure songs.
SONG_SR = 22050


@dataclass(frozen=True)
class Song:
    y: np.ndarray
    sr: int
    boundaries_s: np.ndarray  # including 0 and the duration
    path: Path  # the same signal as a float WAV at ``sr``


# (tonic MIDI note, minor?, tempo, instrument) per section: neighbouring sections
# differ in key, timbre and tempo, as verse and chorus do.
SECTIONS = (
    (48, False, 96.0, "saw"),
    (54, True, 132.0, "bell"),
    (51, False, 84.0, "square"),
    (57, True, 120.0, "organ"),
    (50, False, 108.0, "saw"),
)
SECTION_S = 24.0


def _midi_hz(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69.0) / 12.0)


def _tone(freq: float, n: int, sr: int, instrument: str, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / sr
    phase = 2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi)
    if instrument == "saw":
        return sum(np.sin(k * phase) / k for k in range(1, 12)) * 0.5
    if instrument == "square":
        return sum(np.sin(k * phase) / k for k in range(1, 12, 2)) * 0.6
    if instrument == "bell":
        return (np.sin(phase) + 0.5 * np.sin(2.76 * phase) + 0.3 * np.sin(5.4 * phase)) * np.exp(
            -3.0 * (t % 0.5)
        )
    return sum(np.sin(k * phase) for k in (1, 2, 4, 8)) * 0.3  # organ


def _drums(n: int, sr: int, tempo: float, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(n)
    beat = 60.0 / tempo
    t = np.arange(int(0.2 * sr)) / sr
    kick = np.sin(2 * np.pi * (50 * t + 3.3 * (1 - np.exp(-30 * t)))) * np.exp(-12 * t)
    hat = rng.standard_normal(int(0.03 * sr)) * np.exp(-150 * t[: int(0.03 * sr)]) * 0.3
    for k, start in enumerate(np.arange(0.0, n / sr - 0.2, beat)):
        i = int(start * sr)
        if k % 2 == 0:
            out[i : i + kick.size] += kick
        out[i : i + hat.size] += hat
    return out


def make_sectioned_song(sr: int = SONG_SR, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = int(SECTION_S * sr)
    parts = []
    for tonic, minor, tempo, instrument in SECTIONS:
        # One chord per section, struck on every other beat: the harmony, the
        # timbre and the tempo are constant inside a section and change at its end.
        chord = (0, 3 if minor else 4, 7, 12)
        harmony = np.zeros(n)
        stroke_n = int(2 * 60.0 / tempo * sr)
        envelope = np.exp(-2.0 * np.arange(stroke_n) / sr)
        for start in range(0, n, stroke_n):
            stop = min(n, start + stroke_n)
            for interval in chord:
                harmony[start:stop] += envelope[: stop - start] * _tone(
                    _midi_hz(tonic + interval), stop - start, sr, instrument, rng
                )
            harmony[start:stop] += 0.8 * _tone(
                _midi_hz(tonic - 12), stop - start, sr, "square", rng
            )
        parts.append(0.15 * harmony + 0.5 * _drums(n, sr, tempo, rng))
    y = np.concatenate(parts)
    y = (0.9 * y / np.max(np.abs(y))).astype(np.float32)
    boundaries = np.arange(len(SECTIONS) + 1) * SECTION_S
    return y, boundaries


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media_structure")


@pytest.fixture(scope="session")
def sectioned_song(media_dir: Path) -> Song:
    y, boundaries = make_sectioned_song()
    path = media_dir / "audio" / "sectioned.wav"
    path.parent.mkdir(exist_ok=True)
    sf.write(path, y, SONG_SR, subtype="FLOAT")
    return Song(y, SONG_SR, boundaries, path)


@pytest.fixture(scope="session")
def second_song(media_dir: Path) -> Song:
    """Another, shorter song (different seed and order) as a compressed file."""
    y, boundaries = make_sectioned_song(seed=7)
    y, boundaries = y[: int(3 * SECTION_S * SONG_SR)], boundaries[:4]
    wav = media_dir / "second.wav"
    sf.write(wav, y, SONG_SR, subtype="FLOAT")
    ogg = media_dir / "second.ogg"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-c:a", "libvorbis", "-q:a", "6", str(ogg)],
        check=True,
    )
    return Song(y, SONG_SR, boundaries, ogg)
