"""Segment vectors and boundary transfer, checked by hand and on real features."""

from __future__ import annotations

import numpy as np
import pytest

from ml.features import get_extractor
from ml.segments import (
    SegmentationError,
    clean_boundaries,
    segment_vectors,
    segment_weights,
    transfer_boundaries,
    validate_boundaries,
)

FRAMES = np.array([[0.0, 1], [10, 1], [20, 1], [30, 1]])  # 4 s at 1 Hz


def test_whole_second_segments_are_plain_means():
    np.testing.assert_allclose(segment_vectors(FRAMES, [0, 1, 3, 4]), [[0, 1], [15, 1], [30, 1]])


def test_boundaries_inside_a_second_split_it_by_time():
    # [0, 1.5): 1 s of 0 and 0.5 s of 10 -> 10/3; [1.5, 4): 0.5 s of 10, 1 s of 20, 1 s of 30.
    np.testing.assert_allclose(segment_vectors(FRAMES, [0, 1.5, 4]),
                               [[10 / 3, 1], [(5 + 20 + 30) / 2.5, 1]], rtol=1e-6)  # fmt: skip


def test_segment_shorter_than_a_frame():
    vectors = segment_vectors(FRAMES, [0, 2.0, 2.3, 2.9, 3.2, 4])
    np.testing.assert_allclose(vectors[1:4, 0], [20, 20, (0.1 * 20 + 0.2 * 30) / 0.3], rtol=1e-6)


def test_segments_past_the_last_frame_take_the_last_frame():
    vectors = segment_vectors(FRAMES, [0, 3.5, 4.2, 5.0])  # the other stream is 1 s longer
    np.testing.assert_allclose(vectors[:, 0], [(10 + 20 + 15) / 3.5, 30, 30], rtol=1e-6)


def test_other_frame_rates():
    half_second_rows = np.arange(8, dtype=float)[:, None]  # 2 Hz over 4 s
    np.testing.assert_allclose(segment_vectors(half_second_rows, [0, 1, 4], rate_hz=2.0),
                               [[0.5], [4.5]])  # fmt: skip


def test_weights_rows_sum_to_one():
    weights = segment_weights([0, 0.2, 1.7, 3.9, 6.0], 4)
    np.testing.assert_allclose(weights.sum(1), 1.0)
    assert weights.shape == (4, 4)


@pytest.mark.parametrize(
    "boundaries",
    [[0], [1, 2, 3], [0, 2, 2, 4], [0, 3, 2], [0, np.nan, 4], np.zeros((2, 2))],
)
def test_invalid_segmentations(boundaries):
    with pytest.raises(SegmentationError):
        validate_boundaries(boundaries)
    with pytest.raises(SegmentationError):
        segment_vectors(FRAMES, boundaries)


def test_features_must_be_a_matrix():
    with pytest.raises(ValueError):
        segment_vectors(np.zeros(4), [0, 4])
    with pytest.raises(SegmentationError):
        segment_vectors(np.zeros((0, 3)), [0, 4])


def test_clean_boundaries():
    np.testing.assert_allclose(clean_boundaries([3, 1, 1, -2, 12, np.nan], 10), [0, 1, 3, 10])
    # 2.05 is 0.05 s after 2.0: dropped; 9.9 would leave a 0.1 s last segment: dropped.
    np.testing.assert_allclose(clean_boundaries([2.0, 2.05, 5, 9.9], 10, min_segment_s=0.5),
                               [0, 2, 5, 10])  # fmt: skip
    with pytest.raises(SegmentationError):
        clean_boundaries([1], 0.0)


def test_transfer_to_a_stream_of_another_length():
    shots = np.array([0, 2.5, 5.0, 7.52])
    np.testing.assert_allclose(transfer_boundaries(shots, 7.5), [0, 2.5, 5.0, 7.5])
    np.testing.assert_allclose(transfer_boundaries(shots, 6.0), [0, 2.5, 5.0, 6.0])
    np.testing.assert_allclose(transfer_boundaries(shots, 9.0), [0, 2.5, 5.0, 9.0])


def test_transfer_snaps_to_downbeats_and_merges_slivers():
    shots = np.array([0, 2.1, 2.4, 5.3, 8.0])
    downbeats = np.array([0, 2, 4, 6])
    np.testing.assert_allclose(transfer_boundaries(shots, 8.0, snap_to_s=downbeats), [0, 2, 6, 8])
    np.testing.assert_allclose(transfer_boundaries(shots, 8.0, min_segment_s=1.0), [0, 2.1, 5.3, 8])


def test_shot_segments_of_real_video_features(video_media):
    """Boundaries at the cuts give one distinct vector per shot; the same
    boundaries shifted inside the shots mix them."""
    extractor = get_extractor("handcrafted", "video")
    features = extractor.extract(video_media.frames, video_media.fps)
    cuts = np.arange(0, 9, video_media.shot_s, dtype=float)  # 0, 2, 4, 6, 8
    vectors = segment_vectors(features, cuts)
    assert vectors.shape == (4, extractor.dim)
    for k in range(4):
        np.testing.assert_allclose(vectors[k], features[2 * k : 2 * k + 2].mean(0), rtol=1e-5)
    hue = [extractor.feature_names.index(f"hue{i}") for i in range(12)]
    assert np.argmax(vectors[0, hue]) == 0 and np.argmax(vectors[1, hue]) == 7
