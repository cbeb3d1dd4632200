"""Fixtures shared by the tests of several ``ml`` subpackages, made once per session.

* ``click_track``, ``waltz_track``: kick-and-bass downbeats with hi-hat ticks on every
  beat, at a known tempo and meter (the truth for madmom's downbeats; ``media/`` and
  ``pipeline/``).
* ``video_media``: shots with hard cuts at known times -- two flat colours, a static
  texture and moving stripes -- encoded as H.264 and decoded at the handcrafted video
  extractor's rate and size (``features/`` and ``test_segments.py``).
* ``latent_dataset``, ``tiny_config``, ``trained_segvmnet``: a small latent paired
  dataset, tiny training configurations and a Seg-VM-Net trained on them (``data/``,
  ``export/``, ``training/``).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from ml.data.latent_pairs import write_latent_paired_dataset
from ml.features import get_extractor
from ml.media.decode import load_video_frames
from ml.training.config import TrainConfig


@dataclass(frozen=True)
class ClickTrack:
    y: np.ndarray
    sr: int
    tempo_bpm: float
    beats_per_bar: int
    downbeats_s: np.ndarray


def make_click_track(
    sr: int = 44100, tempo_bpm: float = 100.0, beats_per_bar: int = 4, duration_s: float = 20.0
) -> ClickTrack:
    """Kick plus a bass note on each downbeat (a new note per bar), hi-hat on every beat."""
    rng = np.random.default_rng(1)
    y = np.zeros(int(duration_s * sr))
    beat = 60.0 / tempo_bpm
    t = np.arange(int(0.25 * sr)) / sr
    kick = np.sin(2 * np.pi * (50 * t + 3.3 * (1 - np.exp(-30 * t)))) * np.exp(-12 * t)
    tick = rng.standard_normal(int(0.03 * sr)) * np.exp(-150 * t[: int(0.03 * sr)]) * 0.3
    bass_hz = (55.0, 73.4, 65.4, 49.0)
    first = 0.6
    beats = np.arange(first, duration_s - 0.6, beat)
    for k, when in enumerate(beats):
        i = int(when * sr)
        if k % beats_per_bar == 0:
            bar = k // beats_per_bar
            y[i : i + t.size] += kick + 0.5 * np.sin(2 * np.pi * bass_hz[bar % 4] * t) * np.exp(
                -3 * t
            )
        y[i : i + tick.size] += tick
    y = (0.5 * y / np.max(np.abs(y))).astype(np.float32)
    return ClickTrack(y, sr, tempo_bpm, beats_per_bar, beats[::beats_per_bar])


@pytest.fixture(scope="session")
def click_track() -> ClickTrack:
    return make_click_track()


@pytest.fixture(scope="session")
def waltz_track() -> ClickTrack:
    """3/4 at 150 BPM, and at 22.05 kHz (madmom's networks need 44.1 kHz: resampled)."""
    return make_click_track(sr=22050, tempo_bpm=150.0, beats_per_bar=3, duration_s=16.0)


VIDEO_FPS = 25
SHOT_S = 2  # every shot lasts 2 s
SHOTS = ("red", "blue", "texture", "stripes")


def ffmpeg(*args: str, stdin: bytes | None = None) -> None:
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y", *args]
    result = subprocess.run(cmd, input=stdin, capture_output=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {result.stderr.decode()}")


def shot_frames(kind: str, n: int, width: int = 128, height: int = 72) -> np.ndarray:
    """``n`` frames of one synthetic shot, ``(n, height, width, 3)`` uint8."""
    if kind == "red":
        return np.broadcast_to(np.array([210, 30, 30], np.uint8), (n, height, width, 3)).copy()
    if kind == "blue":
        return np.broadcast_to(np.array([30, 40, 210], np.uint8), (n, height, width, 3)).copy()
    if kind == "texture":  # a static, high-contrast checkerboard in greens
        yy, xx = np.mgrid[0:height, 0:width]
        board = ((yy // 6 + xx // 6) % 2).astype(bool)
        frame = np.where(board[..., None], [40, 200, 60], [10, 60, 20]).astype(np.uint8)
        return np.broadcast_to(frame, (n, height, width, 3)).copy()
    if kind == "stripes":  # vertical stripes moving 3 px per frame
        xx = np.arange(width)
        frames = np.empty((n, height, width, 3), np.uint8)
        for i in range(n):
            level = (127 + 120 * np.sin(2 * np.pi * (xx + 3 * i) / 24)).astype(np.uint8)
            frames[i] = np.stack([level, level, 255 - level], -1)[None]
        return frames
    raise ValueError(kind)


@dataclass(frozen=True)
class VideoMedia:
    path: Path
    frames: np.ndarray  # decoded at the video extractor's rate and size
    fps: float
    shots: tuple[str, ...] = SHOTS
    shot_s: int = SHOT_S


@pytest.fixture(scope="session")
def video_media(tmp_path_factory: pytest.TempPathFactory) -> VideoMedia:
    d = tmp_path_factory.mktemp("features_video")
    frames = np.concatenate([shot_frames(kind, SHOT_S * VIDEO_FPS) for kind in SHOTS])
    path = d / "shots.mp4"
    ffmpeg("-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "128x72", "-r", str(VIDEO_FPS),
           "-i", "pipe:0", "-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p", str(path),
           stdin=frames.tobytes())  # fmt: skip
    extractor = get_extractor("handcrafted", "video")
    decoded = load_video_frames(path, extractor.frame_rate, *extractor.frame_size)
    return VideoMedia(path=path, frames=decoded, fps=extractor.frame_rate)


@pytest.fixture(scope="session")
def latent_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("latent_dataset")
    write_latent_paired_dataset(root, n_clips=100, seed=3)
    return root


def make_tiny_config(kind: str, dataset: Path, out_dir: Path, **overrides) -> TrainConfig:
    """The triplet recipe with small widths and a high learning rate: a few seconds per
    run on CPU."""
    options = {
        "recipe": "triplet",
        "embedding_dim": 16,
        "music_hidden": (64,),
        "video_hidden": (64,),
        "dropout": 0.1,
        "batch_size": 64,
        "learning_rate": 3e-3,
        "max_epochs": 12,
        "patience": 50,
        "progress": False,
        "device": "cpu",
    }
    options.update(overrides)
    return TrainConfig(kind, dataset, out_dir, **options)


@pytest.fixture(scope="session")
def tiny_config():
    """The factory :func:`make_tiny_config` (test modules cannot import conftest)."""
    return make_tiny_config


@pytest.fixture(scope="session")
def trained_segvmnet(latent_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("segvmnet_run")
    from ml.training.trainer import train

    return train(make_tiny_config("segvmnet", latent_dataset, out))
