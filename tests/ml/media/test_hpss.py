"""Harmonic/percussive separation and its median filters against librosa and SciPy."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import scipy.ndimage

from ml.media.hpss import hpss, median_filter_axis
from ml.synth.clip import ClipSpec, generate_clip


@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (1, 40), (37, 1), (40, 70)])
@pytest.mark.parametrize("size", [1, 3, 31])
@pytest.mark.parametrize("axis", [0, 1, -1, -2])
def test_median_filter_equals_scipy(shape, size, axis) -> None:
    rng = np.random.default_rng(size * 100 + shape[0])
    x = rng.integers(0, 6, shape).astype(np.float32)  # many ties
    kernel = [1, 1]
    kernel[axis] = size
    expected = scipy.ndimage.median_filter(x, size=kernel, mode="reflect")
    found = median_filter_axis(x, size, axis)
    assert found.dtype == x.dtype
    np.testing.assert_array_equal(found, expected)


def test_hpss_equals_librosa_on_a_song() -> None:
    y = generate_clip(5, ClipSpec(min_duration_s=10, max_duration_s=12)).audio
    harmonic, percussive = hpss(y)
    expected_harmonic, expected_percussive = librosa.effects.hpss(y)
    assert harmonic.dtype == y.dtype and harmonic.shape == y.shape
    np.testing.assert_array_equal(harmonic, expected_harmonic)
    np.testing.assert_array_equal(percussive, expected_percussive)


@pytest.mark.parametrize(
    "call",
    [
        lambda: median_filter_axis(np.zeros(5, np.float32), 3),
        lambda: median_filter_axis(np.zeros((5, 5), np.complex64), 3),
        lambda: median_filter_axis(np.zeros((5, 5), np.float32), 4),
        lambda: median_filter_axis(np.zeros((5, 5), np.float32), 3, axis=2),
        lambda: hpss(np.zeros((2, 100), np.float32)),
        lambda: hpss(np.zeros(0, np.float32)),
        lambda: hpss(np.array([0.0, np.nan] * 100, np.float32)),
    ],
)
def test_bad_input_raises_value_error(call) -> None:
    with pytest.raises(ValueError):
        call()
