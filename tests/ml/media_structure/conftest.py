"""Real media for the structure, beat and analysis tests, generated once per session.

* ``sectioned_song``: sections that differ in key, timbre and tempo, with drums, at
  known boundaries (the truth for MSAF's boundary detection).
* ``click_track``: kick-and-bass downbeats with hi-hat ticks on every beat, at a
  known tempo and meter (the truth for madmom's downbeats).
* ``wesnoth_tracks``: real recordings from the Debian package ``wesnoth-music``
  (skipped, with the reason, where the package is not installed).
"""

from __future__ import annotations

import glob
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

SR = 22050


@dataclass(frozen=True)
class Song:
    y: np.ndarray
    sr: int
    boundaries_s: np.ndarray  # including 0 and the duration
    path: Path  # the same signal as a float WAV at ``sr``


@dataclass(frozen=True)
class ClickTrack:
    y: np.ndarray
    sr: int
    tempo_bpm: float
    beats_per_bar: int
    downbeats_s: np.ndarray


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


def make_sectioned_song(sr: int = SR, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
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
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media_structure")


@pytest.fixture(scope="session")
def sectioned_song(media_dir: Path) -> Song:
    y, boundaries = make_sectioned_song()
    path = media_dir / "audio" / "sectioned.wav"
    path.parent.mkdir(exist_ok=True)
    sf.write(path, y, SR, subtype="FLOAT")
    return Song(y, SR, boundaries, path)


@pytest.fixture(scope="session")
def second_song(media_dir: Path) -> Song:
    """Another, shorter song (different seed and order) as a compressed file."""
    y, boundaries = make_sectioned_song(seed=7)
    y, boundaries = y[: int(3 * SECTION_S * SR)], boundaries[:4]
    wav = media_dir / "second.wav"
    sf.write(wav, y, SR, subtype="FLOAT")
    ogg = media_dir / "second.ogg"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-c:a", "libvorbis", "-q:a", "6", str(ogg)],
        check=True,
    )
    return Song(y, SR, boundaries, ogg)


@pytest.fixture(scope="session")
def click_track() -> ClickTrack:
    return make_click_track()


@pytest.fixture(scope="session")
def waltz_track() -> ClickTrack:
    """3/4 at 150 BPM, and at 22.05 kHz (madmom's networks need 44.1 kHz: resampled)."""
    return make_click_track(sr=22050, tempo_bpm=150.0, beats_per_bar=3, duration_s=16.0)


def wesnoth_music_dir() -> Path | None:
    """The music folder of the installed ``wesnoth-music`` package, if any."""
    for pattern in (
        "/usr/share/games/wesnoth/*/data/core/music",
        "/usr/share/wesnoth/*/data/core/music",
        "/usr/share/games/wesnoth/data/core/music",
        "/usr/share/wesnoth/data/core/music",
    ):
        found = sorted(glob.glob(pattern))
        if found:
            return Path(found[-1])
    return None


# Three complete pieces, chosen short to keep the suite fast.
WESNOTH_TRACKS = ("sad.ogg", "transience.ogg", "main_menu.ogg")


@pytest.fixture(scope="session")
def wesnoth_tracks() -> list[Path]:
    music = wesnoth_music_dir()
    if music is None:
        pytest.skip(
            "real music not installed: Debian package 'wesnoth-music' "
            "(apt-get install wesnoth-music) provides .../data/core/music/*.ogg"
        )
    paths = [music / name for name in WESNOTH_TRACKS]
    missing = [p.name for p in paths if not os.path.isfile(p)]
    if missing:
        pytest.skip(f"wesnoth-music lacks {missing} in {music}")
    return paths
