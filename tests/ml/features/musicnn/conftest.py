"""Shared fixtures of the MusiCNN tests: the installed checkpoints, one model per
session (its ONNX export in a session temporary folder), and two synthetic
sounds of opposite character at 16 kHz -- a drum pattern and a sine pad.

No TensorFlow anywhere: parity with the original model is checked by
``bench/musicnn_parity.py`` in its own environment.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from ml.features.musicnn.extractor import (
    SAMPLE_RATE,
    MusicnnAudio,
    MusicnnModel,
    musicnn_checkpoint_prefix,
)

SR = SAMPLE_RATE
BPM = 120


@pytest.fixture(scope="session", autouse=True)
def onnx_cache_dir(tmp_path_factory: pytest.TempPathFactory):
    """Keep the tests' ONNX exports (also the registry's) out of the user's cache."""
    path = tmp_path_factory.mktemp("musicnn-onnx")
    previous = os.environ.get("V2M_MUSICNN_CACHE_DIR")
    os.environ["V2M_MUSICNN_CACHE_DIR"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("V2M_MUSICNN_CACHE_DIR", None)
    else:
        os.environ["V2M_MUSICNN_CACHE_DIR"] = previous


@pytest.fixture(scope="session")
def msd_prefix() -> str:
    return musicnn_checkpoint_prefix("MSD_musicnn")


@pytest.fixture(scope="session")
def msd_model(onnx_cache_dir) -> MusicnnModel:
    return MusicnnModel("MSD_musicnn", backend="onnx", cache_dir=onnx_cache_dir)


@pytest.fixture(scope="session")
def mtt_extractor(onnx_cache_dir) -> MusicnnAudio:
    """The MagnaTagATune model, whose tags (drums, beat, ambient...) suit synthetic sounds."""
    return MusicnnAudio(MusicnnModel("MTT_musicnn", backend="onnx", cache_dir=onnx_cache_dir))


def drum_pattern(duration_s: float, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Rock beat at 120 BPM: kick on 1 and 3, snare on 2 and 4, closed hi-hat on eighths."""
    rng = np.random.default_rng(seed)
    y = np.zeros(int(duration_s * sr), np.float32)
    beat = int(sr * 60 / BPM)

    def hit(sound: np.ndarray, start: int) -> None:
        end = min(start + sound.size, y.size)
        y[start:end] += sound[: end - start]

    t = np.arange(int(0.25 * sr)) / sr
    kick = np.sin(2 * np.pi * (50 + 100 * np.exp(-t * 30)) * t) * np.exp(-t * 12)
    snare = (rng.standard_normal(t.size) * 0.6 + np.sin(2 * np.pi * 190 * t)) * np.exp(-t * 20)
    hihat = np.diff(rng.standard_normal(t.size + 1)) * np.exp(-t * 80) * 0.3
    for i, start in enumerate(range(0, y.size, beat)):
        hit(kick if i % 2 == 0 else snare, start)
        hit(hihat, start)
        hit(hihat, start + beat // 2)
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def sine_pad(duration_s: float, sr: int = SR) -> np.ndarray:
    """A soft, slowly swelling C major chord of pure sines."""
    t = np.arange(int(duration_s * sr)) / sr
    chord = sum(np.sin(2 * np.pi * f * t) for f in (261.63, 329.63, 392.0, 523.25))
    swell = 0.6 + 0.4 * np.sin(2 * np.pi * 0.2 * t)
    return (0.1 * chord * swell).astype(np.float32)


@pytest.fixture(scope="session")
def drums() -> np.ndarray:
    return drum_pattern(6.0)


@pytest.fixture(scope="session")
def pad() -> np.ndarray:
    return sine_pad(6.0)
