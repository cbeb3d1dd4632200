"""The structure agreement: a picture that repeats where the music repeats."""

from __future__ import annotations

import numpy as np
import pytest

from ml.sync.structure import (
    MIN_FRAMES,
    self_similarity,
    structure_agreement,
    structure_scores,
)


def _frames(pattern: str, seconds: int, dim: int, seed: int, noise: float = 0.3) -> np.ndarray:
    """1 Hz frames of sections named by ``pattern`` ("ABAB"), ``seconds`` each: every
    section name has a look of its own, every frame some noise."""
    rng = np.random.default_rng(seed)
    looks = {name: rng.normal(size=dim) for name in sorted(set(pattern))}
    rows = [looks[name] + noise * rng.normal(size=dim) for name in pattern for _ in range(seconds)]
    return np.asarray(rows)


def test_self_similarity_is_a_cosine_of_standardised_frames() -> None:
    frames = _frames("ABA", 4, 8, seed=0)
    ssm = self_similarity(frames)
    assert ssm.shape == (12, 12)
    np.testing.assert_allclose(np.diag(ssm), 1.0)
    np.testing.assert_allclose(ssm, ssm.T)
    assert ssm[0, 9] > 0.5 > ssm[0, 5]  # A again is alike, B is not
    # A constant dimension counts for nothing (no division by its zero spread).
    wider = np.hstack([frames, np.full((12, 1), 7.0)])
    np.testing.assert_allclose(self_similarity(wider), ssm)


def test_the_picture_that_repeats_with_the_music_agrees_best() -> None:
    music = _frames("ABACAB", 6, 40, seed=1)  # 36 s of music features
    same = _frames("ABACAB", 6, 12, seed=2)  # its video: other features, same form
    other = _frames("AABBCC", 6, 12, seed=3)
    unrelated = np.random.default_rng(4).normal(size=(36, 12))
    right = structure_agreement(same, music)
    assert right > 0.8
    assert structure_agreement(other, music) < right - 0.4
    assert abs(structure_agreement(unrelated, music)) < 0.2


def test_scores_lay_the_query_at_each_tracks_offset() -> None:
    video = _frames("ABAB", 5, 12, seed=5)  # 20 s
    form = _frames("CCABABD", 5, 30, seed=6)  # the form from 10 s on
    scores = structure_scores(video, [form, form, form[:4]], np.array([10.0, 0.0, 0.0]))
    assert scores[0] > 0.8 and scores[0] > scores[1] + 0.3
    assert np.isnan(scores[2])  # 4 frames: too few to correlate
    # A window shorter than the video compares what there is of both.
    assert np.isfinite(structure_scores(video, [form], np.array([20.0]))[0])
    assert np.isnan(structure_scores(video, [form], np.array([np.nan]))[0])


def test_nothing_to_compare_gives_nan() -> None:
    assert np.isnan(structure_agreement(np.zeros((20, 4)), _frames("AB", 10, 4, seed=7)))
    short = _frames("AB", (MIN_FRAMES - 1) // 2, 4, seed=8)
    assert np.isnan(structure_agreement(short, short))


def test_bad_input_is_refused() -> None:
    frames = _frames("AB", 5, 4, seed=9)
    with pytest.raises(ValueError, match="finite"):
        self_similarity(np.where(np.eye(10, 4) > 0, np.nan, frames))
    with pytest.raises(ValueError, match=r"\(T, D\)"):
        self_similarity(frames[0])
    with pytest.raises(ValueError, match="min_lag"):
        structure_agreement(frames, frames, min_lag=0)
    with pytest.raises(ValueError, match="offsets"):
        structure_scores(frames, [frames, frames], np.zeros(3))
    with pytest.raises(ValueError, match="frame_rate"):
        structure_scores(frames, [frames], np.zeros(1), frame_rate_hz=0.0)
