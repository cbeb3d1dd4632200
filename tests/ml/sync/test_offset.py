"""The best offset of a video on a track, from the co-occurrence of its cuts with the
track's downbeats and section boundaries."""

from __future__ import annotations

import numpy as np
import pytest

from ml.sync.cooccurrence import window_sums
from ml.sync.offset import (
    TrackEvents,
    best_offset,
    best_offsets,
    candidate_offsets,
    combine_scores,
    offset_scores,
)

VIDEO_S = 30.0
#: Offsets are scored from a table of the cuts' window sum: accurate to 2e-5 per cut.
TOL = 3e-5


def rubato_track(rng: np.random.Generator, duration: float = 180.0) -> TrackEvents:
    """A track whose bars last 1.8-2.6 s each (so no two offsets look alike), with a
    section boundary every 8 bars."""
    bars = np.cumsum(rng.uniform(1.8, 2.6, int(duration / 1.8) + 2))
    downbeats = np.concatenate([[rng.uniform(0.1, 1.0)], rng.uniform(0.1, 1.0) + bars])
    downbeats = downbeats[downbeats < duration]
    boundaries = np.concatenate([[0.0], downbeats[8::8], [duration]])
    return TrackEvents(downbeats, boundaries, duration)


def edit_on(
    track: TrackEvents, offset: float, rng: np.random.Generator, keep: float = 0.7
) -> np.ndarray:
    """Cuts of a video laid at ``offset``: every section change, and most downbeats."""
    rel = track.downbeats_s - offset
    inside = rel[(rel > 0) & (rel < VIDEO_S)]
    cuts = inside[rng.random(inside.size) < keep]
    b = track.boundaries_s - offset
    return np.unique(np.concatenate([cuts, b[(b > 0) & (b < VIDEO_S)]]))


def test_the_best_offset_recovers_a_known_shift() -> None:
    rng = np.random.default_rng(1)
    track = rubato_track(rng)
    truth = float(track.downbeats_s[23])
    cuts = edit_on(track, truth, rng)
    result = best_offset(cuts, VIDEO_S, track, prior_offset_s=77.7)
    assert result.offset_s == truth
    assert result.downbeat_score == pytest.approx(cuts.size / len(result.downbeat_matches), abs=TOL)
    assert result.boundary_score == pytest.approx(1.0, abs=TOL)
    n_d, n_b = len(result.downbeat_matches), len(result.boundary_matches)
    assert n_b >= 1
    assert result.score == pytest.approx(
        (n_d * result.downbeat_score + n_b * result.boundary_score) / (n_d + n_b), rel=1e-12
    )
    assert result.offsets_s[0] == 77.7 and result.offsets_s.size == result.scores.size
    others = np.delete(result.scores, np.flatnonzero(result.offsets_s == truth))
    assert np.nanmax(others) < result.score - 0.2
    # the matches say which cut lands on which event, in video time
    assert result.downbeat_matches.hit.sum() == cuts.size
    assert all("hits" in line for line in result.explain() if "section change" in line)


def test_a_prior_between_downbeats_is_found_when_it_is_right() -> None:
    rng = np.random.default_rng(2)
    track = rubato_track(rng)
    truth = float(track.downbeats_s[10]) - 0.37  # the video starts 0.37 s before a downbeat
    cuts = edit_on(track, truth, rng, keep=1.0)
    without = best_offset(cuts, VIDEO_S, track)
    assert without.score < 0.5  # downbeat offsets put every cut 0.37 s off its downbeat
    result = best_offset(cuts, VIDEO_S, track, prior_offset_s=truth)
    assert result.offset_s == truth and result.score == pytest.approx(1.0, abs=TOL)


def test_ties_go_to_the_prior() -> None:
    downbeats = np.arange(0.0, 120.0, 2.0)  # a metronome: every downbeat offset is alike
    track = TrackEvents(downbeats, np.array([0.0, 120.0]), 120.0)
    cuts = np.arange(2.0, VIDEO_S, 2.0)
    result = best_offset(cuts, VIDEO_S, track, prior_offset_s=40.0)
    assert result.offset_s == 40.0 and result.score == pytest.approx(1.0, abs=TOL)
    assert np.all(result.scores == result.score)  # exact ties
    assert best_offset(cuts, VIDEO_S, track).offset_s == 0.0  # else the earliest downbeat


def test_the_score_falls_smoothly_as_the_offset_moves_off() -> None:
    rng = np.random.default_rng(3)
    track = rubato_track(rng)
    truth = float(track.downbeats_s[30])
    cuts = edit_on(track, truth, rng, keep=1.0)
    shifts = np.linspace(0.0, 0.3, 31)
    scores, counts = offset_scores(cuts, VIDEO_S, track.downbeats_s, truth + shifts)
    assert scores[0] == pytest.approx(1.0, abs=TOL)
    assert np.all(np.diff(scores) < 0)
    assert np.max(np.abs(np.diff(scores))) < 0.1
    assert scores[-1] < 0.02
    assert np.all(counts == counts[0])


def test_offset_scores_are_the_mean_window_sum_of_the_events_inside() -> None:
    rng = np.random.default_rng(4)
    track = rubato_track(rng, 90.0)
    cuts = np.sort(rng.uniform(0.0, VIDEO_S, 12))
    offsets = np.concatenate([rng.uniform(-10.0, 80.0, 40), track.downbeats_s[:5]])
    scores, counts = offset_scores(cuts, VIDEO_S, track.downbeats_s, offsets, sigma_s=0.3)
    for o, s, n in zip(offsets, scores, counts):
        rel = track.downbeats_s - o
        rel = rel[(rel > 0) & (rel < VIDEO_S)]
        assert n == rel.size
        if n == 0:
            assert np.isnan(s)
        else:
            # 12 cuts in 30 s and sigma 0.3 s: up to a few cuts within reach of an event
            assert s == pytest.approx(window_sums(cuts, rel, sigma_s=0.3).mean(), abs=4 * TOL)


def test_a_shortlist_at_once_equals_one_track_at_a_time() -> None:
    rng = np.random.default_rng(5)
    tracks = [rubato_track(rng, float(rng.uniform(20.0, 200.0))) for _ in range(60)]
    tracks.append(TrackEvents(np.zeros(0), np.zeros(0), 100.0))  # no events at all
    tracks.append(TrackEvents(np.arange(0.5, 20.0, 2.0), np.array([0.0, 20.0]), 20.0))  # too short
    cuts = edit_on(tracks[7], float(tracks[7].downbeats_s[3]), rng)
    priors = np.where(rng.random(len(tracks)) < 0.5, rng.uniform(-5.0, 100.0, len(tracks)), np.nan)
    batch = best_offsets(cuts, VIDEO_S, tracks, prior_offsets_s=priors, boundary_weight=3.0)
    for k, track in enumerate(tracks):
        prior = None if np.isnan(priors[k]) else float(priors[k])
        one = best_offset(cuts, VIDEO_S, track, prior_offset_s=prior, boundary_weight=3.0)
        assert batch.offset_s[k] == one.offset_s
        np.testing.assert_equal(
            [batch.downbeat_score[k], batch.boundary_score[k], batch.score[k]],
            [one.downbeat_score, one.boundary_score, one.score],
        )
        assert batch.n_candidates[k] == one.offsets_s.size
        assert batch.n_downbeats[k] == len(one.downbeat_matches)
        assert batch.n_boundaries[k] == len(one.boundary_matches)
    assert batch.offset_s[7] == tracks[7].downbeats_s[3]
    assert np.nanargmax(batch.score) == 7
    assert np.isnan(batch.score[60]) and batch.offset_s[60] == (
        priors[60] if not np.isnan(priors[60]) else 0.0
    )


def test_candidate_offsets() -> None:
    downbeats = np.array([0.5, 2.5, 4.5, 6.5, 8.5])
    np.testing.assert_array_equal(candidate_offsets(downbeats, 10.0, 5.5), [0.5, 2.5, 4.5])
    np.testing.assert_array_equal(
        candidate_offsets(downbeats, 10.0, 5.5, 3.3), [3.3, 0.5, 2.5, 4.5]
    )
    np.testing.assert_array_equal(
        candidate_offsets(downbeats, 10.0, 5.5, float("nan")), [0.5, 2.5, 4.5]
    )
    np.testing.assert_array_equal(candidate_offsets(downbeats, 10.0, 12.0), [0.0])
    np.testing.assert_array_equal(candidate_offsets(downbeats, 10.0, 12.0, -1.0), [-1.0])


def test_combine_scores_pools_the_events() -> None:
    down = np.array([0.2, 0.2, np.nan, np.nan])
    n_down = np.array([12, 12, 0, 0])
    bound = np.array([1.0, np.nan, 0.4, np.nan])
    n_bound = np.array([2, 0, 1, 0])
    np.testing.assert_allclose(
        combine_scores(down, n_down, bound, n_bound), [(12 * 0.2 + 2) / 14, 0.2, 0.4, np.nan]
    )
    np.testing.assert_allclose(
        combine_scores(down, n_down, bound, n_bound, 4.0), [(12 * 0.2 + 8) / 20, 0.2, 0.4, np.nan]
    )
    np.testing.assert_allclose(
        combine_scores(down, n_down, bound, n_bound, 0.0), [0.2, 0.2, np.nan, np.nan]
    )
    with pytest.raises(ValueError, match="boundary_weight"):
        combine_scores(down, n_down, bound, n_bound, -1.0)
    with pytest.raises(ValueError, match="shapes differ"):
        combine_scores(down, n_down, bound[:2], n_bound[:2])
    with pytest.raises(ValueError, match="NaN where its event count is positive"):
        combine_scores(down, n_down + 1, bound, n_bound)


def test_bad_input_is_refused() -> None:
    track = TrackEvents(np.arange(0.0, 60.0, 2.0), np.array([0.0, 60.0]), 60.0)
    with pytest.raises(ValueError, match="after the video's end"):
        best_offset([1.0, 31.0], VIDEO_S, track)
    with pytest.raises(ValueError, match="cut_times_s must be sorted"):
        best_offset([2.0, 1.0], VIDEO_S, track)
    with pytest.raises(ValueError, match="video_duration_s"):
        best_offset([1.0], 0.0, track)
    with pytest.raises(ValueError, match="downbeats_s must be sorted"):
        TrackEvents(np.array([2.0, 1.0]), np.zeros(0), 10.0)
    with pytest.raises(ValueError, match="boundaries_s contains negative"):
        TrackEvents(np.zeros(0), np.array([-1.0]), 10.0)
    with pytest.raises(ValueError, match="duration_s"):
        TrackEvents(np.zeros(0), np.zeros(0), float("inf"))
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        best_offsets([1.0], VIDEO_S, [track, track], prior_offsets_s=[1.0])
    with pytest.raises(ValueError, match="finite"):
        best_offsets([1.0], VIDEO_S, [track], prior_offsets_s=[np.inf])
    with pytest.raises(TypeError, match="TrackEvents"):
        best_offsets([1.0], VIDEO_S, [(np.zeros(1), np.zeros(1), 1.0)])
    with pytest.raises(ValueError, match="boundary_weight"):
        best_offsets([1.0], VIDEO_S, [track], boundary_weight=-0.1)
    with pytest.raises(ValueError, match="boundary_weight"):
        best_offset([1.0], VIDEO_S, track, boundary_weight=float("nan"))
    with pytest.raises(ValueError, match="offsets_s"):
        offset_scores([1.0], VIDEO_S, track.downbeats_s, [np.nan])
