"""madmom downbeats, tempo and meter on generated click tracks."""

from __future__ import annotations

import numpy as np
import pytest

from ml.media.beats import BeatTrack, decode_downbeats, downbeat_activations, track_beats

pytestmark = pytest.mark.slow


def assert_matches(found: BeatTrack, truth) -> None:
    assert found.tempo_bpm == pytest.approx(truth.tempo_bpm, rel=0.02)
    assert found.beats_per_bar == truth.beats_per_bar
    # every true downbeat found within 70 ms, and nothing else called a downbeat
    errors = np.abs(found.downbeats_s[:, None] - truth.downbeats_s[None, :])
    assert np.all(errors.min(axis=0) <= 0.070), (found.downbeats_s, truth.downbeats_s)
    assert len(found.downbeats_s) == len(truth.downbeats_s)
    assert np.all(np.diff(found.beats_s) > 0)
    np.testing.assert_array_equal(found.downbeats_s, found.beats_s[found.beat_numbers == 1])


def test_four_four_click_track(click_track) -> None:
    assert_matches(track_beats(click_track.y, click_track.sr), click_track)


def test_three_four_at_another_rate(waltz_track) -> None:
    waltz = waltz_track
    assert_matches(track_beats(waltz.y, waltz.sr), waltz)


def test_activations_decode_to_the_same_track(click_track) -> None:
    act = downbeat_activations(click_track.y, click_track.sr)
    assert act.shape == (int(round(len(click_track.y) / click_track.sr * 100)), 2)
    assert act.dtype == np.float32 and act.min() >= 0 and act.max() <= 1
    only_four = decode_downbeats(act, beats_per_bar=[4])
    assert_matches(only_four, click_track)


def test_silence_has_no_beats() -> None:
    found = decode_downbeats(np.zeros((500, 2)))
    assert found.n_beats == 0 and found.beats_per_bar == 0 and np.isnan(found.tempo_bpm)


@pytest.mark.parametrize(
    "call",
    [
        lambda: track_beats(np.zeros((2, 100), np.float32), 44100),
        lambda: track_beats(np.zeros(100, np.float32), -1),
        lambda: track_beats(np.zeros(100, np.int16), 44100),
        lambda: decode_downbeats(np.zeros((10, 3))),
        lambda: decode_downbeats(np.zeros((10, 2)), beats_per_bar=[1]),
        lambda: decode_downbeats(np.zeros((10, 2)), min_bpm=200, max_bpm=100),
    ],
)
def test_bad_input_raises_value_error(call) -> None:
    with pytest.raises(ValueError):
        call()
