"""The extractor registry and the 1 Hz grid shared by all extractors."""

from __future__ import annotations

import numpy as np
import pytest

from ml.features import (
    AudioExtractor,
    FeatureInputError,
    UnknownExtractorError,
    available_extractors,
    get_extractor,
    register_extractor,
)
from ml.features.registry import ExtractorKey
from ml.features.timegrid import n_seconds, pool_per_second


def test_builtin_extractors_are_registered_with_their_identity():
    assert ExtractorKey("audio", "handcrafted") in available_extractors()
    assert ExtractorKey("video", "handcrafted") in available_extractors("video")
    assert all(k.modality == "audio" for k in available_extractors("audio"))
    audio = get_extractor("handcrafted", "audio")
    video = get_extractor("handcrafted", "video")
    assert audio is get_extractor("handcrafted", "audio")  # one instance per process
    assert (audio.spec.modality, video.spec.modality) == ("audio", "video")
    assert audio.spec.key == f"audio/handcrafted@{audio.version}"
    assert audio.dim == len(audio.feature_names) and video.dim == len(video.feature_names)
    assert audio.sample_rate == 22050
    assert video.frame_rate > 0 and len(video.frame_size) == 2


def test_unknown_extractor_names_what_exists():
    with pytest.raises(UnknownExtractorError, match="audio/handcrafted"):
        get_extractor("openl3", "audio")
    with pytest.raises(UnknownExtractorError):
        get_extractor("handcrafted", "smell")


class _LoudnessPerSecond(AudioExtractor):
    """A minimal real extractor: RMS level of each second."""

    name = "test-loudness"
    version = "1"
    sample_rate = 8000
    dim = 1

    def extract(self, y: np.ndarray, sr: int) -> np.ndarray:
        times = np.arange(y.size) / sr
        return pool_per_second(y**2, times, n_seconds(y.size / sr)) ** 0.5


def test_a_new_extractor_plugs_in():
    register_extractor(_LoudnessPerSecond)
    register_extractor(_LoudnessPerSecond)  # registering the same class again is harmless
    extractor = get_extractor("test-loudness", "audio")
    y = np.concatenate([np.full(8000, 0.5), np.full(4000, 0.1)]).astype(np.float32)
    np.testing.assert_allclose(extractor.extract(y, 8000), [[0.5], [0.1]], rtol=1e-6)

    class Impostor(_LoudnessPerSecond):
        pass

    with pytest.raises(ValueError, match="already registered"):
        register_extractor(Impostor)

    class NoModality:
        name = "x"

    with pytest.raises(ValueError, match="modality"):
        register_extractor(NoModality)


def test_names_joined_by_plus_concatenate_extractors():
    register_extractor(_LoudnessPerSecond)
    both = get_extractor("handcrafted+test-loudness", "audio")
    hand = get_extractor("handcrafted", "audio")
    assert both.spec.name == "handcrafted+test-loudness"
    assert both.spec.version == f"{hand.version}+1"
    assert both.dim == hand.dim + 1 and both.sample_rate == 22050
    t = np.arange(int(2.5 * 22050)) / 22050
    y = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    rows = both.extract(y, 22050)
    assert rows.shape == (3, hand.dim + 1) and rows.dtype == np.float32
    np.testing.assert_allclose(rows[:, : hand.dim], hand.extract(y, 22050), rtol=1e-6)
    np.testing.assert_allclose(rows[:, hand.dim], [0.3 / 2**0.5] * 3, rtol=1e-3)


def test_bad_concatenations_say_why():
    with pytest.raises(UnknownExtractorError, match="openl3"):
        get_extractor("handcrafted+openl3", "audio")
    with pytest.raises(UnknownExtractorError, match="distinct"):
        get_extractor("handcrafted+handcrafted", "audio")
    with pytest.raises(UnknownExtractorError, match="distinct"):
        get_extractor("handcrafted+", "audio")
    # TransNetV2 wants 48x27 frames at the native rate, the handcrafted extractor 4 fps.
    with pytest.raises(UnknownExtractorError, match="decode frames differently"):
        get_extractor("handcrafted+transnet", "video")


def test_feature_input_error_is_a_value_error():
    assert issubclass(FeatureInputError, ValueError)


@pytest.mark.parametrize(
    "duration, rows", [(3.0, 3), (3.2, 4), (0.3, 1), (3.0000000001, 3), (59.999, 60)]
)
def test_one_row_per_started_second(duration, rows):
    assert n_seconds(duration) == rows


@pytest.mark.parametrize("duration", [0.0, -1.0, float("nan"), float("inf")])
def test_no_rows_for_nonsense_durations(duration):
    with pytest.raises(ValueError):
        n_seconds(duration)


def test_pooling_by_hand():
    values = np.array([[1.0, 10], [3, 30], [5, 50], [7, 70]])
    times = np.array([0.1, 0.6, 1.5, 3.6])  # nothing in second 2; 3.6 falls in second 3
    pooled = pool_per_second(values, times, 4, ("mean", "std", "max"))
    assert pooled.shape == (4, 6) and pooled.dtype == np.float32
    np.testing.assert_allclose(pooled[0], [2, 20, 1, 10, 3, 30])
    np.testing.assert_allclose(pooled[1], [5, 50, 0, 0, 5, 50])
    # Second 2 is empty: the nearest frame is the one at 1.5 s (0.5 s before it, against 0.6 s after it).
    np.testing.assert_allclose(pooled[2], [5, 50, 0, 0, 5, 50])
    np.testing.assert_allclose(pooled[3], [7, 70, 0, 0, 7, 70])


def test_pooling_empty_second_takes_the_frame_after_when_closer():
    pooled = pool_per_second(np.array([1.0, 2.0]), np.array([0.0, 2.2]), 3)
    np.testing.assert_allclose(pooled[:, 0], [1.0, 2.0, 2.0])


def test_pooling_frames_past_the_end_count_in_the_last_row():
    pooled = pool_per_second(np.array([1.0, 3.0]), np.array([0.5, 1.7]), 1)
    np.testing.assert_allclose(pooled, [[2.0]])


@pytest.mark.parametrize(
    "values, times, stats",
    [
        (np.zeros((0, 2)), np.zeros(0), ("mean",)),
        (np.zeros((3, 2)), np.zeros(2), ("mean",)),
        (np.zeros((2, 2)), np.array([1.0, 0.0]), ("mean",)),
        (np.zeros((2, 2)), np.array([0.0, 1.0]), ("median",)),
    ],
)
def test_pooling_rejects_bad_input(values, times, stats):
    with pytest.raises(ValueError):
        pool_per_second(values, times, 2, stats)
