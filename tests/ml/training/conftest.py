"""A tiny tagged music collection, synthesised with numpy (made once per session).

Each track has three latent factors in [0, 1] that drive the sound and, as weighted
tags, the ground truth: brightness (harmonic roll-off: "bright" b / "dark" 1 - b), tempo
(note rate: "fast" t / "slow" 1 - t) and register (pitch: "high" r / "low" 1 - r).
With these complementary weighted tags, S = (3 - D) / (3 + D) where D is the L1
distance between latents: tracks that sound alike are similar, with no ties in S.
"""

from __future__ import annotations

import numpy as np
import pytest

from ml.features.cqt import SAMPLE_RATE, log_cqt

TRACK_SECONDS = 4.0
N_HARMONICS = 10


def synth_track(
    brightness: float, tempo: float, register: float, rng: np.random.Generator
) -> np.ndarray:
    """Mono audio at 44.1 kHz: decaying harmonic notes on a regular grid."""
    n = int(TRACK_SECONDS * SAMPLE_RATE)
    y = np.zeros(n)
    step = 0.2 + 0.6 * (1.0 - tempo)  # seconds between notes
    centre = 40 + 36 * register  # MIDI pitch
    harmonics = np.arange(1, N_HARMONICS + 1)
    gains = harmonics ** -(1.0 + 3.0 * (1.0 - brightness))
    onset = rng.uniform(0, step)
    while onset < TRACK_SECONDS:
        length = int(min(step, TRACK_SECONDS - onset) * SAMPLE_RATE)
        t = np.arange(length) / SAMPLE_RATE
        f0 = 440.0 * 2 ** ((centre + rng.uniform(-4, 4) - 69) / 12)
        note = sum(
            g * np.sin(2 * np.pi * h * f0 * t) for h, g in zip(harmonics, gains) if h * f0 < 16000
        )
        start = int(onset * SAMPLE_RATE)
        y[start : start + length] += note * np.exp(-t / (0.4 * step))
        onset += step
    y += 0.005 * rng.standard_normal(n)
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


def latent_tags(brightness: float, tempo: float, register: float) -> dict[str, float]:
    tags = {
        "bright": brightness,
        "dark": 1 - brightness,
        "fast": tempo,
        "slow": 1 - tempo,
        "high": register,
        "low": 1 - register,
    }
    return {tag: strength for tag, strength in tags.items() if strength > 0}


def make_collection(n_tracks: int, seed: int) -> tuple[list[np.ndarray], list[dict[str, float]]]:
    rng = np.random.default_rng(seed)
    cqts, tags = [], []
    for brightness, tempo, register in rng.uniform(0.02, 0.98, size=(n_tracks, 3)):
        cqts.append(log_cqt(synth_track(brightness, tempo, register, rng), SAMPLE_RATE))
        tags.append(latent_tags(brightness, tempo, register))
    return cqts, tags


@pytest.fixture(scope="session")
def tagged_collection():
    """Train (40 tracks), validation (16) and test (24) sets."""
    return {
        "train": make_collection(40, seed=1),
        "validation": make_collection(16, seed=2),
        "test": make_collection(24, seed=3),
    }
