"""Real media with known content for the feature tests, generated once per session.

Audio: sections of different texture (a low sine chord, bright noise bursts)
and click tracks at known tempi, encoded by ffmpeg and decoded back through
``ml.media.decode``. The video with known shots (``video_media``) is in
``tests/ml/conftest.py``: the segment tests use it too.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from ml.features import get_extractor
from ml.media.decode import load_audio

SR = 22050


def ffmpeg(*args: str, stdin: bytes | None = None) -> None:
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y", *args]
    result = subprocess.run(cmd, input=stdin, capture_output=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {result.stderr.decode()}")


def encode_audio(path: Path, y: np.ndarray, sr: int = SR) -> Path:
    ffmpeg("-f", "f32le", "-ar", str(sr), "-ac", "1", "-i", "pipe:0", "-c:a", "libmp3lame",
           "-q:a", "2", str(path), stdin=np.asarray(y, "<f4").tobytes())  # fmt: skip
    return path


def chord_section(duration_s: float, sr: int = SR) -> np.ndarray:
    """A sustained A minor triad (A3, C4, E4): low, tonal, steady."""
    t = np.arange(int(duration_s * sr)) / sr
    return sum(0.2 * np.sin(2 * np.pi * f * t) for f in (220.0, 261.63, 329.63)).astype(np.float32)


def noise_section(duration_s: float, sr: int = SR, seed: int = 0) -> np.ndarray:
    """High-passed noise bursts 8 times a second: bright, noisy, percussive."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * sr)
    noise = np.diff(rng.standard_normal(n + 1)).astype(np.float32) * 0.2
    envelope = np.exp(-((np.arange(n) % (sr // 8)) / (0.02 * sr)))
    return (noise * envelope).astype(np.float32)


def click_track(bpm: float, duration_s: float, sr: int = SR) -> np.ndarray:
    """Short 1 kHz clicks on every beat."""
    y = np.zeros(int(duration_s * sr), np.float32)
    click = (np.sin(2 * np.pi * 1000 * np.arange(int(0.03 * sr)) / sr)
             * np.hanning(int(0.03 * sr))).astype(np.float32)  # fmt: skip
    for start in (np.arange(0, duration_s, 60.0 / bpm) * sr).astype(int):
        segment = y[start : start + click.size]
        segment += click[: segment.size]
    return y


@dataclass(frozen=True)
class AudioMedia:
    two_textures: np.ndarray  # 6 s chord, then 6 s noise bursts (decoded from an MP3)
    clicks_120: np.ndarray  # 20 s at 120 BPM
    clicks_90: np.ndarray  # 20 s at 90 BPM
    long_noise: np.ndarray  # 60 s, longer than one STFT block
    sr: int = SR


@pytest.fixture(scope="session")
def make_chord():
    """The chord generator, for tests that need a signal of a given length or rate."""
    return chord_section


@pytest.fixture(scope="session")
def audio_media(tmp_path_factory: pytest.TempPathFactory) -> AudioMedia:
    d = tmp_path_factory.mktemp("features_audio")
    sr = get_extractor("handcrafted", "audio").sample_rate
    two = encode_audio(d / "two_textures.mp3", np.concatenate([chord_section(6), noise_section(6)]))
    return AudioMedia(
        two_textures=load_audio(two, sr),
        clicks_120=click_track(120, 20),
        clicks_90=click_track(90, 20),
        long_noise=noise_section(60, seed=1),
    )
