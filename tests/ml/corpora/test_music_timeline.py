"""The rules' listening tools on signals with a known answer, and the shot compositor."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from ml.corpora import music
from ml.corpora.timeline import Cut, compose, mean_abs_diff, shot_of_frame


def _click_track(bpm: float, meter: int, seconds: float) -> np.ndarray:
    """Loud low clicks on the one, soft high clicks on the other beats."""
    sr = music.SR
    y = np.zeros(int(seconds * sr), np.float32)
    t = np.arange(int(0.05 * sr)) / sr
    for k, start in enumerate(np.arange(0.25, seconds - 0.1, 60.0 / bpm)):
        f, amp = (110.0, 0.9) if k % meter == 0 else (1760.0, 0.25)
        i = int(start * sr)
        y[i : i + len(t)] += amp * np.sin(2 * np.pi * f * t) * np.exp(-t / 0.01)
    return y


def test_beat_grid_and_bar_of_a_click_track():
    y = _click_track(120.0, 3, 20.0)
    env = librosa.onset.onset_strength(y=y, sr=music.SR, hop_length=music.HOP)
    tempo, beats = music.beat_grid(env, 20.0)
    assert tempo == pytest.approx(120.0, rel=0.03)
    assert np.median(np.diff(beats)) == pytest.approx(0.5, abs=0.02)
    assert beats[0] < 0.5 + 0.05 and beats[-1] > 19.0  # covers the whole excerpt
    frames = np.clip(librosa.time_to_frames(beats, sr=music.SR, hop_length=music.HOP), 0, None)
    low = librosa.feature.melspectrogram(y=y, sr=music.SR, hop_length=music.HOP, n_mels=32)[:4]
    accent = music.zscore(low.sum(axis=0)[frames])
    meter, phase = music.downbeats(accent)
    assert meter == 3
    downbeats = beats[phase::meter]
    ones = 0.25 + 1.5 * np.arange(14)
    assert np.abs(downbeats[:, None] - ones[None]).min(axis=1).max() < 0.06


def test_beat_grid_fills_gaps_and_survives_silence():
    y = _click_track(100.0, 4, 20.0)
    y[int(8 * music.SR) : int(12 * music.SR)] = 0.0  # four seconds without a beat
    env = librosa.onset.onset_strength(y=y, sr=music.SR, hop_length=music.HOP)
    _, beats = music.beat_grid(env, 20.0)
    assert np.diff(beats).max() < 1.5 * 0.6
    _, quiet = music.beat_grid(np.zeros(200), 4.0)
    assert len(quiet) >= 4 and np.all(np.diff(quiet) > 0)


def _blocks(pattern: str, beats_per_block: int = 16, seed: int = 0) -> np.ndarray:
    """Beat-synchronous features: one random centroid per letter, plus noise."""
    rng = np.random.default_rng(seed)
    centre = {c: rng.normal(0, 1, 12) for c in sorted(set(pattern))}
    cols = [
        centre[c] + 0.15 * rng.normal(0, 1, 12) for c in pattern for _ in range(beats_per_block)
    ]
    return np.array(cols).T


def test_both_segmentations_find_block_changes_and_labels_repeat():
    feats = _blocks("ABAC")
    assert music.agglomerative_sections(feats, 4) == [0, 16, 32, 48]
    starts, novelty = music.novelty_sections(feats, min_len=8)
    assert starts == [0, 16, 32, 48]
    assert novelty.shape == (64,) and novelty.max() == pytest.approx(1.0)
    assert music.section_labels(feats, [0, 16, 32, 48]) == [0, 1, 0, 2]


def test_section_labels_never_repeat_across_a_boundary():
    feats = _blocks("AAB")  # a boundary inside A: still a change of look
    assert music.section_labels(feats, [0, 16, 32]) == [0, 1, 2]


def _solid(value: float):
    return lambda shot, frame: np.full((3, 4, 6), value * (shot + 1), np.float32)


def test_compose_hard_cuts_dissolves_and_fades():
    cuts = [Cut(5), Cut(12, "dissolve", 4), Cut(20, "fade", 6)]
    frames = np.stack(list(compose(30, cuts, _solid(0.2))))
    assert frames.shape == (30, 4, 6, 3) and frames.dtype == np.uint8
    level = frames[:, 0, 0, 0].astype(int)
    assert list(level[:5]) == [51] * 5 and list(level[5:10]) == [102] * 5
    # The dissolve covers frames 10-13 and mixes shot 1 (102) into shot 2 (153).
    np.testing.assert_allclose(level[10:15], [108, 121, 134, 147, 153], atol=1)
    # The fade covers frames 17-22: out to black, in to shot 3 (204).
    np.testing.assert_allclose(level[16:24], [153, 128, 77, 26, 34, 102, 170, 204], atol=1)
    np.testing.assert_array_equal(
        shot_of_frame(30, cuts)[[0, 4, 5, 12, 19, 20, 29]], [0, 0, 1, 2, 2, 3, 3]
    )
    assert Cut(20, "fade", 6).as_truth(25.0) == {
        "time": 0.8,
        "frame": 20,
        "kind": "fade",
        "why": "",
        "start": 0.68,
        "end": 0.92,
    }


def test_cut_validation():
    with pytest.raises(ValueError):
        Cut(3, "wipe", 4)
    with pytest.raises(ValueError):
        Cut(3, "dissolve", 0)
    with pytest.raises(ValueError):
        Cut(3, "hard", 2)
    with pytest.raises(ValueError):
        list(compose(10, [Cut(5), Cut(5)], _solid(0.1)))


def test_mean_abs_diff_in_8bit_levels():
    a = np.zeros((3, 2, 2), np.float32)
    assert mean_abs_diff(a, a + 0.1) == pytest.approx(25.5)
    assert mean_abs_diff(np.zeros(4, np.uint8), np.full(4, 10, np.uint8)) == 10.0
