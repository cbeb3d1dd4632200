"""The co-occurrence score S on generated cut trains and downbeat grids."""

from __future__ import annotations

import numpy as np
import pytest

from ml.sync.cooccurrence import (
    DEFAULT_SIGMA_S,
    cooccurrence_score,
    cut_likelihood,
    event_scores,
    gaussian_window,
    match_events,
    window_sums,
)

RATE = 25.0
BAR = 2.0  # 120 bpm in 4/4: every downbeat falls on a frame at 25 Hz


def downbeats(duration: float, bar: float = BAR, phase: float = 0.0) -> np.ndarray:
    return np.arange(phase, duration, bar)


def test_cuts_on_every_downbeat_give_one() -> None:
    beats = downbeats(60.0)
    f = cut_likelihood(beats[1:], 60.0, RATE)
    assert f.shape == (1500,) and f.sum() == len(beats) - 1
    assert cooccurrence_score(f, beats, rate_hz=RATE) == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(event_scores(f, beats[1:], rate_hz=RATE), 1.0, atol=1e-12)


def test_cuts_midway_between_downbeats_give_zero() -> None:
    beats = downbeats(60.0)
    f = cut_likelihood(beats[:-1] + BAR / 2, 60.0, RATE)
    assert cooccurrence_score(f, beats, rate_hz=RATE) < 1e-12


def test_half_the_downbeats_cut_gives_one_half() -> None:
    beats = downbeats(60.0)
    f = cut_likelihood(beats[2::2], 60.0, RATE)  # events inside: beats[1:], 29 of them
    assert cooccurrence_score(f, beats, rate_hz=RATE) == pytest.approx(14 / 29, abs=1e-12)


def test_score_follows_the_gaussian_window_as_cuts_move_away() -> None:
    beats = downbeats(60.0)
    shifts = np.arange(0, 9) / RATE  # whole frames: 0 to 0.32 s
    scores = [
        cooccurrence_score(cut_likelihood(beats[1:] + d, 61.0, RATE), beats, rate_hz=RATE)
        for d in shifts
    ]
    np.testing.assert_allclose(scores, np.exp(-0.5 * (shifts / DEFAULT_SIGMA_S) ** 2), atol=1e-9)
    assert np.all(np.diff(scores) < 0)
    # early and late cuts count alike
    early = cooccurrence_score(cut_likelihood(beats[1:] - 0.08, 60.0, RATE), beats, rate_hz=RATE)
    assert early == pytest.approx(np.exp(-0.5), abs=1e-9)


def test_exact_cut_times_decrease_smoothly() -> None:
    beats = downbeats(30.0)[1:]
    shifts = np.linspace(0.0, 0.3, 61)
    scores = np.array([window_sums(beats + d, beats).mean() for d in shifts])
    np.testing.assert_allclose(scores, gaussian_window(shifts), atol=1e-9)
    assert np.all(np.diff(scores) < 0)
    assert np.max(np.abs(np.diff(scores))) < 0.05  # no jump between 5 ms steps


def test_sigma_is_a_parameter_in_seconds() -> None:
    beats = downbeats(40.0)
    f = cut_likelihood(beats[1:] + 0.2, 41.0, RATE)
    assert cooccurrence_score(f, beats, rate_hz=RATE, sigma_s=0.2) == pytest.approx(np.exp(-0.5))
    assert cooccurrence_score(f, beats, rate_hz=RATE) == pytest.approx(np.exp(-0.5 * 2.5**2))


def test_score_is_linear_in_the_likelihood() -> None:
    beats = downbeats(40.0)
    f = cut_likelihood(beats[1:], 40.0, RATE)
    assert cooccurrence_score(0.8 * f, beats, rate_hz=RATE) == pytest.approx(0.8)


def test_event_scores_equal_the_sum_over_all_frames() -> None:
    rng = np.random.default_rng(7)
    f = rng.random(400) ** 8  # mostly small, a few peaks, like a transition probability
    rate = 30.0
    events = np.sort(rng.uniform(0, 400 / rate, 25))
    frames = np.arange(400) / rate
    brute = (np.exp(-0.5 * ((frames[None, :] - events[:, None]) / 0.1) ** 2) * f).sum(axis=1)
    np.testing.assert_allclose(
        event_scores(f, events, rate_hz=rate, sigma_s=0.1), brute, rtol=1e-9, atol=1e-7
    )


def test_only_events_strictly_inside_the_video_count() -> None:
    f = cut_likelihood([4.0], 10.0, RATE)
    assert cooccurrence_score(f, [4.0, 12.0, 14.0], rate_hz=RATE) == 1.0
    assert cooccurrence_score(f, [0.0, 4.0], rate_hz=RATE) == 1.0
    assert np.isnan(cooccurrence_score(f, [0.0, 10.0, 11.0], rate_hz=RATE))
    assert cooccurrence_score(f, [4.0, 8.0], rate_hz=RATE, span_s=(5.0, 9.0)) == 0.0


def test_cut_likelihood_rounds_cuts_to_frames() -> None:
    f = cut_likelihood([0.0, 0.019, 0.021, 9.99, 10.0], 10.0, RATE)
    assert f.shape == (250,)
    assert np.flatnonzero(f).tolist() == [0, 1, 249]


def test_matches_name_the_nearest_cut_and_its_lag() -> None:
    m = match_events([3.9, 12.48, 20.0], [4.0, 12.5, 13.0, 17.0])
    np.testing.assert_allclose(m.cut_s, [3.9, 12.48, 12.48, 20.0])
    np.testing.assert_allclose(m.lag_s, [-0.1, -0.02, -0.52, 3.0], atol=1e-12)
    assert m.hit.tolist() == [False, True, False, False]
    assert m.explain(1) == "cut at 12.48 s hits the downbeat at 12.50 s (20 ms early)"
    assert m.explain(0, "section change") == (
        "nearest cut at 3.90 s misses the section change at 4.00 s (100 ms early)"
    )
    assert m.explain(3) == "nearest cut at 20.00 s misses the downbeat at 17.00 s (3000 ms late)"
    late = match_events([5.03], [5.0])
    assert late.explain(0) == "cut at 5.03 s hits the downbeat at 5.00 s (30 ms late)"
    assert (
        match_events([5.0], [5.0]).explain(0)
        == "cut at 5.00 s hits the downbeat at 5.00 s (on time)"
    )


def test_a_tie_goes_to_the_earlier_cut_and_no_cut_is_said() -> None:
    assert match_events([1.0, 3.0], [2.0]).cut_s.tolist() == [1.0]
    none = match_events([], [2.0])
    assert np.isnan(none.cut_s[0]) and none.weight[0] == 0 and not none.hit[0]
    assert none.explain(0) == "no cut near the downbeat at 2.00 s"


@pytest.mark.parametrize(
    "events, message",
    [
        ([2.0, 1.0], "sorted"),
        ([-1.0, 2.0], "negative"),
        ([1.0, np.nan], "non-finite"),
        ([[1.0, 2.0]], "1-D"),
        (["a"], "1-D array"),
    ],
)
def test_bad_event_times_are_refused(events, message) -> None:
    with pytest.raises(ValueError, match=message):
        cooccurrence_score(np.zeros(10), events)
    with pytest.raises(ValueError, match=message):
        match_events([1.0], events)


def test_bad_likelihoods_and_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        cooccurrence_score(np.array([0.0, -0.1]), [0.01])
    with pytest.raises(ValueError, match="non-empty 1-D"):
        cooccurrence_score(np.zeros((3, 2)), [0.01])
    with pytest.raises(ValueError, match="non-empty 1-D"):
        event_scores(np.zeros(0), [0.01])
    with pytest.raises(ValueError, match="sigma_s"):
        cooccurrence_score(np.zeros(10), [0.1], sigma_s=0.0)
    with pytest.raises(ValueError, match="rate_hz"):
        cooccurrence_score(np.zeros(10), [0.1], rate_hz=-25.0)
    with pytest.raises(ValueError, match="span_s"):
        cooccurrence_score(np.zeros(10), [0.1], span_s=(2.0, 1.0))
    with pytest.raises(ValueError, match="after the video's end"):
        cut_likelihood([1.0, 11.0], 10.0)
    with pytest.raises(ValueError, match="weights must have shape"):
        window_sums([1.0, 2.0], [1.5], weights=[1.0])
    with pytest.raises(ValueError, match="times_s contains non-finite"):
        window_sums([1.0], [np.inf])
