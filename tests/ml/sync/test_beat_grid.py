"""Cuts on the beat grid (ml.sync.beat_grid): known grids, known cuts."""

from __future__ import annotations

import numpy as np
import pytest

from ml.sync.beat_grid import beat_grid_scores, chance_level
from ml.sync.cooccurrence import DEFAULT_SIGMA_S
from ml.sync.offset import TrackEvents


def grid_track(bpm: float, duration_s: float, phase_s: float = 0.0) -> TrackEvents:
    """A 4/4 track with beats every 60/bpm seconds from ``phase_s``."""
    beats = np.arange(phase_s, duration_s, 60.0 / bpm)
    return TrackEvents(beats[::4], np.array([0.0, duration_s]), duration_s, beats)


def test_cuts_on_the_beats_score_one_and_find_the_offset():
    track = grid_track(120, 60.0)
    cuts = np.arange(1, 20) * 1.0  # every two beats, from the downbeat at 10 s
    out = beat_grid_scores(cuts, 20.0, [track], prior_offsets_s=np.array([np.nan]))
    assert out.score[0] == pytest.approx(1.0)
    assert out.offset_s[0] in track.downbeats_s


def test_the_right_tempo_beats_a_wrong_one():
    cuts = np.cumsum(np.tile([0.5, 1.0, 0.5, 2.0], 6))  # shots of 1, 2, 1, 4 beats at 120 BPM
    cuts = cuts[cuts < 24.0]
    right, wrong = grid_track(120, 60.0, 0.2), grid_track(97, 60.0, 0.2)
    out = beat_grid_scores(cuts, 24.0, [wrong, right])
    assert out.score[1] == pytest.approx(1.0)
    assert out.score[0] < 0.6


def test_cuts_between_beats_score_low():
    track = grid_track(120, 60.0)
    cuts = np.arange(0.25, 20, 1.0)  # a quarter beat off the grid, always
    assert beat_grid_scores(cuts, 20.0, [track]).score[0] < 0.01


def test_outer_boundaries_are_not_cuts_and_no_cut_means_no_score():
    track = grid_track(120, 60.0)
    with_ends = beat_grid_scores(np.array([0.0, 1.0, 20.0]), 20.0, [track])
    inner = beat_grid_scores(np.array([1.0]), 20.0, [track])
    assert with_ends.score[0] == inner.score[0]
    assert np.isnan(beat_grid_scores(np.array([0.0, 20.0]), 20.0, [track]).score[0])


def test_a_track_without_beats_has_no_score_and_others_are_unaffected():
    bare = TrackEvents(np.zeros(0), np.array([0.0, 60.0]), 60.0)
    track = grid_track(120, 60.0)
    out = beat_grid_scores(np.array([1.0, 2.0]), 10.0, [bare, track])
    assert np.isnan(out.score[0]) and out.score[1] == pytest.approx(1.0)


def test_each_cut_finds_its_nearest_beat_on_its_own_track():
    """A shortlist scores each track as if it were alone."""
    rng = np.random.default_rng(0)
    tracks = [
        grid_track(bpm, 40.0, ph)
        for bpm, ph in zip(rng.uniform(70, 170, 30), rng.uniform(0, 0.5, 30))
    ]
    cuts = np.sort(rng.uniform(0.5, 14.5, 12))
    together = beat_grid_scores(cuts, 15.0, tracks).score
    alone = [beat_grid_scores(cuts, 15.0, [t]).score[0] for t in tracks]
    np.testing.assert_allclose(together, alone)


def test_bad_input_is_refused():
    track = grid_track(120, 60.0)
    with pytest.raises(ValueError):
        beat_grid_scores(np.array([2.0, 1.0]), 10.0, [track])
    with pytest.raises(TypeError):
        beat_grid_scores(np.array([1.0]), 10.0, ["not a track"])
    with pytest.raises(ValueError):
        TrackEvents(np.zeros(0), np.zeros(0), 10.0, np.array([1.0, np.nan]))


@pytest.mark.parametrize("period_s", [0.33, 0.5, 1.0])
def test_the_chance_level_is_the_mean_window_of_a_random_phase(period_s):
    rng = np.random.default_rng(0)
    distance = np.abs(rng.uniform(-period_s / 2, period_s / 2, 200_000))
    expected = np.exp(-0.5 * (distance / DEFAULT_SIGMA_S) ** 2).mean()
    beats = np.arange(0.0, 60.0, period_s)
    assert chance_level(beats) == pytest.approx(expected, rel=1e-2)
    assert chance_level(np.array([1.0])) == 0.0


def test_random_cuts_score_near_zero_on_a_fast_and_a_slow_track_alike():
    """Corrected for chance, a fast track is no longer a hub for cuts off its grid."""
    rng = np.random.default_rng(1)
    fast = TrackEvents(
        np.arange(0, 120, 2.0), np.array([0.0, 120.0]), 120.0, np.arange(0, 120, 1 / 3)
    )
    slow = TrackEvents(
        np.arange(0, 120, 4.0), np.array([0.0, 120.0]), 120.0, np.arange(0, 120, 1.0)
    )
    scores = np.array(
        [
            beat_grid_scores(np.sort(rng.uniform(0, 30, 12)), 30.0, [fast, slow]).score
            for _ in range(200)
        ]
    )
    raw_fast, raw_slow = chance_level(fast.beats_s), chance_level(slow.beats_s)
    assert raw_fast > 2 * raw_slow  # uncorrected, the fast track would lead
    # The best of several offsets is a maximum, so a little above 0; alike for both.
    assert abs(scores[:, 0].mean() - scores[:, 1].mean()) < 0.1
    assert scores.mean() < 0.25
