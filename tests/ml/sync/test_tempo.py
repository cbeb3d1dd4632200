"""Dominant shot length against beat and bar, on generated shot sequences."""

from __future__ import annotations

import numpy as np
import pytest

from ml.sync.tempo import (
    dominant_shot_length,
    median_period,
    shot_durations,
    shot_tempo,
    sync_level,
)

BEAT = 0.5  # 120 bpm
BAR = 4 * BEAT


def edited(
    shot_s: float, n: int, rng: np.random.Generator, jitter: float = 0.03, outliers: int = 4
) -> np.ndarray:
    """Shot boundaries of a video cut every ``shot_s`` seconds (each shot off by a few
    per cent, as cuts land a frame or two off the grid), plus a few shots of any length."""
    durations = shot_s * (1 + rng.uniform(-jitter, jitter, n))
    durations = np.concatenate([durations, rng.uniform(0.3, 12.0, outliers)])
    rng.shuffle(durations)
    return np.concatenate([[0.0], np.cumsum(durations)])


@pytest.mark.parametrize(
    "unit_s, level, nearest",
    [
        (BEAT, "beat", "beat"),
        (BAR, "bar", "bar"),
        (4 * BAR, "4-bar", "4-bar"),
    ],
)
def test_the_level_of_regular_editing_is_recognised(unit_s, level, nearest) -> None:
    rng = np.random.default_rng(int(unit_s * 100))
    durations = shot_durations(edited(unit_s, 40, rng))
    dominant = dominant_shot_length(durations)
    assert dominant == pytest.approx(unit_s, rel=0.02)
    tempo = shot_tempo(dominant, BEAT, BAR)
    assert tempo.level == level
    assert tempo.nearest_unit == nearest
    assert tempo.log2_distance < 0.03 and tempo.agreement > 0.97


def test_two_bar_editing_is_at_the_edge_of_the_4_bar_level_and_its_own_unit() -> None:
    # Two bars are 0.5 of four bars, the edge of the thesis' 4-bar range: a level
    # that a few milliseconds decide; the continuous agreement is not so fragile.
    rng = np.random.default_rng(3)
    dominant = dominant_shot_length(shot_durations(edited(2 * BAR, 40, rng)))
    assert dominant == pytest.approx(2 * BAR, rel=0.02)
    tempo = shot_tempo(dominant, BEAT, BAR)
    assert tempo.level == ("4-bar" if dominant >= 2 * BAR else "none")
    assert tempo.nearest_unit == "2-bar" and tempo.agreement > 0.97


def test_exact_durations_give_exact_levels_at_the_edges() -> None:
    assert dominant_shot_length(np.full(12, 2 * BAR)) == pytest.approx(2 * BAR, rel=1e-6)
    assert sync_level(2 * BAR, BEAT, BAR) == "4-bar"
    assert sync_level(1.5 * BAR, BEAT, BAR) == "bar"
    assert sync_level(0.5 * BAR, BEAT, BAR) == "bar"  # 2 beats = half a bar
    assert sync_level(1.5 * BEAT, BEAT, BAR) == "beat"
    assert sync_level(0.5 * BEAT, BEAT, BAR) == "beat"
    assert sync_level(0.49 * BEAT, BEAT, BAR) == "none"
    assert sync_level(1.7 * BAR, BEAT, BAR) == "none"  # between bar and 4-bar ranges
    assert sync_level(6.1 * BAR, BEAT, BAR) == "none"


def test_bar_comes_before_beat_where_the_ranges_touch() -> None:
    beat, bar = 0.6, 1.8  # 3/4: 1.5 beats is also half a bar
    assert sync_level(1.5 * beat, beat, bar) == "bar"
    assert sync_level(1.4 * beat, beat, bar) == "beat"


def test_agreement_is_continuous_and_lowest_between_units() -> None:
    shots = BEAT * 2.0 ** np.linspace(0, 2, 41)  # one beat to one bar, in 1/20 octave steps
    agreement = np.array([shot_tempo(s, BEAT, BAR).agreement for s in shots])
    assert agreement[0] == pytest.approx(1.0) and agreement[-1] == pytest.approx(1.0)
    assert agreement[20] == pytest.approx(0.0, abs=1e-12)  # two beats: one octave from both
    assert np.max(np.abs(np.diff(agreement))) <= 0.05 + 1e-9
    assert shot_tempo(0.25 * BEAT, BEAT, BAR).agreement == 0.0  # two octaves below the beat
    tempo = shot_tempo(2.6, BEAT, BAR)
    assert tempo.beat_ratio == pytest.approx(5.2) and tempo.bar_ratio == pytest.approx(1.3)
    assert tempo.level == "bar" and tempo.nearest_unit == "bar"
    assert tempo.log2_distance == pytest.approx(np.log2(1.3))
    assert shot_tempo(3.0, BEAT, BAR).nearest_unit == "2-bar"  # log2 0.42 from 2 bars, 0.58 from 1


def test_the_peak_wins_over_the_mean_and_scales_with_time() -> None:
    durations = np.concatenate([np.full(10, 2.0), np.full(3, 0.5), [30.0, 45.0]])
    assert dominant_shot_length(durations) == pytest.approx(2.0, rel=1e-3)
    assert dominant_shot_length(3 * durations) == pytest.approx(6.0, rel=1e-3)
    # a wider kernel merges neighbours into one peak between them
    close = np.array([1.0] * 5 + [1.3] * 5)
    assert 1.0 < dominant_shot_length(close, bandwidth_oct=0.5) < 1.3
    assert dominant_shot_length(close, bandwidth_oct=0.05) in (
        pytest.approx(1.0, rel=1e-3),
        pytest.approx(1.3, rel=1e-3),
    )


def test_median_period() -> None:
    assert median_period(np.arange(0, 10, 0.5)) == pytest.approx(0.5)
    assert median_period(np.array([0.0, 2.0, 4.0, 4.5, 6.5, 8.5])) == pytest.approx(2.0)
    assert np.isnan(median_period(np.array([1.0])))


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="at least two"):
        shot_durations([0.0])
    with pytest.raises(ValueError, match="strictly increasing"):
        shot_durations([0.0, 1.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="sorted"):
        shot_durations([0.0, 2.0, 1.0])
    with pytest.raises(ValueError, match="finite and > 0"):
        dominant_shot_length([1.0, 0.0])
    with pytest.raises(ValueError, match="non-empty"):
        dominant_shot_length([])
    with pytest.raises(ValueError, match="bandwidth_oct"):
        dominant_shot_length([1.0], bandwidth_oct=-1)
    with pytest.raises(ValueError, match="beat_s"):
        sync_level(1.0, float("nan"), 2.0)
    with pytest.raises(ValueError, match="bar_s"):
        shot_tempo(1.0, 0.5, 0.0)
    with pytest.raises(ValueError, match="sorted"):
        median_period([1.0, 0.5])
