"""Bar windows and the local match that places a section on a track's bars."""

from __future__ import annotations

import numpy as np
import pytest

from ml.ranking import EmptySequenceError
from ml.ranking.sections import bar_windows, local_match, window_vectors


def test_bar_windows_run_from_each_downbeat_and_stop_at_the_end() -> None:
    windows = bar_windows(np.array([0.5, 2.5, 4.5, 6.5, 8.5]), 10.0, bars=2)
    assert windows.tolist() == [[0.5, 4.5], [2.5, 6.5], [4.5, 8.5], [6.5, 10.0]]
    # A downbeat outside the music is ignored; none inside is an error.
    assert bar_windows(np.array([-1.0, 1.0, 12.0]), 10.0).tolist() == [[1.0, 10.0]]
    with pytest.raises(ValueError, match="no downbeat"):
        bar_windows(np.array([11.0]), 10.0)
    with pytest.raises(ValueError, match="positive"):
        bar_windows(np.array([1.0]), 10.0, bars=0)


def test_window_vectors_are_time_weighted_means() -> None:
    features = np.arange(10, dtype=np.float32)[:, None]  # row i holds i, for [i, i + 1)
    vectors = window_vectors(features, np.array([[0.0, 2.0], [1.5, 3.0], [2.0, 10.0]]))
    assert vectors[:, 0].tolist() == pytest.approx([0.5, (0.5 * 1 + 2) / 1.5, 5.5])
    with pytest.raises(ValueError, match="non-empty"):
        window_vectors(features, np.zeros((0, 2)))


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_local_match_finds_the_query_windows_in_the_track() -> None:
    rng = np.random.default_rng(0)
    track = _unit(rng.normal(size=(20, 8)))
    windows = np.stack([np.arange(20) * 2.0, np.arange(20) * 2.0 + 8.0], axis=1)
    query = _unit(track[7:12] + 0.1 * rng.normal(size=(5, 8)))  # bars 7-11, a little noise
    q_windows = np.stack([np.arange(5) * 2.0 + 0.7, np.arange(5) * 2.0 + 8.7], axis=1)
    match = local_match(track, windows, query, q_windows)
    assert (match.track_start_s, match.track_end_s) == (14.0, 30.0)
    assert (match.query_start_s, match.query_end_s) == (0.7, 16.7)
    assert 0.9 < match.similarity <= 1.0


def test_local_match_refuses_bad_input_and_finds_nothing_in_flat_similarity() -> None:
    track = _unit(np.ones((3, 4)))
    windows = np.array([[0.0, 1.0], [1.0, 2.0], [2.0, 3.0]])
    assert local_match(track, windows, track[:2], windows[:2]) is None
    with pytest.raises(ValueError, match="one window per embedding"):
        local_match(track, windows[:2], track, windows)
    with pytest.raises(EmptySequenceError):
        local_match(track, windows, np.zeros((0, 4)), np.zeros((0, 2)))
