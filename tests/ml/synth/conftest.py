"""Fixtures for the synthetic corpus tests: a tiny corpus made once per session,
and independent ffmpeg/ffprobe readers (the generator must not grade itself
with its own code)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ml.synth import ClipSpec, generate_corpus

TINY_SPEC = ClipSpec(min_duration_s=10.0, max_duration_s=16.0)


def ffprobe(path: Path) -> dict:
    """ffprobe's JSON description (format and streams) of a file."""
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            str(path),
        ],
        check=True,
        capture_output=True,
    )
    return json.loads(out.stdout)


def decode_audio(path: Path, sr: int) -> np.ndarray:
    """Mono float32 samples of a file at ``sr``, decoded by ffmpeg."""
    out = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(path),
            "-vn",
            "-f",
            "f32le",
            "-ac",
            "1",
            "-ar",
            str(sr),
            "pipe:1",
        ],
        check=True,
        capture_output=True,
    )
    return np.frombuffer(out.stdout, dtype="<f4")


def decode_frames(path: Path, width: int, height: int) -> np.ndarray:
    """All frames of a video as (N, height, width, 3) uint8 RGB."""
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"],
        check=True,
        capture_output=True,
    )
    return np.frombuffer(out.stdout, np.uint8).reshape(-1, height, width, 3)


def colour_histogram(frame: np.ndarray, levels: int = 8) -> np.ndarray:
    """Normalised joint RGB histogram with ``levels`` bins per channel."""
    q = (frame.reshape(-1, 3).astype(np.int64) * levels) // 256
    index = (q[:, 0] * levels + q[:, 1]) * levels + q[:, 2]
    return np.bincount(index, minlength=levels**3) / len(index)


def histogram_jumps(frames: np.ndarray) -> np.ndarray:
    """L1 distance of colour histograms between consecutive frames;
    entry i compares frame i with frame i + 1."""
    hists = np.stack([colour_histogram(f) for f in frames])
    return np.abs(np.diff(hists, axis=0)).sum(axis=1)


class MediaTools:
    """The readers above, handed to tests as the ``media`` fixture (test
    modules cannot import a conftest under importlib import mode)."""

    ffprobe = staticmethod(ffprobe)
    decode_audio = staticmethod(decode_audio)
    decode_frames = staticmethod(decode_frames)
    histogram_jumps = staticmethod(histogram_jumps)


@pytest.fixture(scope="session")
def media() -> MediaTools:
    return MediaTools()


@pytest.fixture(scope="session")
def tiny_spec() -> ClipSpec:
    return TINY_SPEC


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """Three short clips (10-16 s) with FLAC tracks, written once."""
    out = tmp_path_factory.mktemp("synth_corpus")
    generate_corpus(out, 3, seed=2024, spec=TINY_SPEC)
    return out
