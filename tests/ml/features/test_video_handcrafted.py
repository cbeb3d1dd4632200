"""Handcrafted video features on an encoded video with known shots and hard cuts."""

from __future__ import annotations

import numpy as np
import pytest

from ml.features import FeatureInputError, get_extractor
from ml.features.video_handcrafted import FEATURE_NAMES, rgb_to_hsv


@pytest.fixture(scope="module")
def extractor():
    return get_extractor("handcrafted", "video")


@pytest.fixture(scope="module")
def features(extractor, video_media):
    return extractor.extract(video_media.frames, video_media.fps)


def col(name: str) -> int:
    return FEATURE_NAMES.index(name)


def seconds_of(video_media, shot: str, *, inner: bool = True) -> np.ndarray:
    """Rows of a shot; ``inner`` drops the first second, which holds the cut."""
    k = video_media.shots.index(shot)
    first = k * video_media.shot_s + (1 if inner and k else 0)
    return np.arange(first, (k + 1) * video_media.shot_s)


def test_shape_and_dtype(extractor, video_media, features):
    n_frames = video_media.frames.shape[0]
    assert n_frames == 32  # 8 s at 4 frames per second
    assert features.shape == (8, extractor.dim) and features.dtype == np.float32
    assert np.all(np.isfinite(features))


def test_partial_last_second(extractor, video_media):
    rows = extractor.extract(video_media.frames[:9], video_media.fps)  # 2.25 s
    assert rows.shape == (3, extractor.dim)
    # The partial second holds one frame, the first of the second second's shot.
    np.testing.assert_allclose(rows[2, : col("motion_mean")],
                               extractor.extract(video_media.frames[8:9], 4.0)[0, : col("motion_mean")],
                               atol=1e-6)  # fmt: skip


def test_deterministic(extractor, video_media, features):
    np.testing.assert_array_equal(extractor.extract(video_media.frames.copy(), 4.0), features)


def test_colours_land_in_their_hue_bins(video_media, features):
    hue = features[:, [col(f"hue{i}") for i in range(12)]]
    assert set(np.argmax(hue[seconds_of(video_media, "red")], axis=1)) == {0}  # 0 degrees
    assert set(np.argmax(hue[seconds_of(video_media, "blue")], axis=1)) == {7}  # ~235 degrees
    red = features[seconds_of(video_media, "red")]
    assert (
        red[:, col("top_left_r")].min() > 180 / 255 and red[:, col("top_left_b")].max() < 60 / 255
    )
    # Hasler-Suesstrunk on a flat (210, 30, 30): no spread, 0.3 x the mean opponent magnitude.
    expected = 0.3 * np.hypot((210 - 30) / 255, (0.5 * (210 + 30) - 30) / 255)
    np.testing.assert_allclose(red[:, col("colourfulness")], expected, atol=0.01)


def test_texture_has_edges_and_flat_colour_has_none(video_media, features):
    edges = features[:, col("edge_density")]
    assert edges[seconds_of(video_media, "texture")].min() > 0.2
    flat = np.r_[seconds_of(video_media, "red"), seconds_of(video_media, "blue")]
    assert edges[flat].max() < 0.01


def test_motion_moving_stripes_against_static_shots(video_media, features):
    motion = features[:, col("motion_mean")]
    moving = motion[seconds_of(video_media, "stripes")]
    static = motion[np.r_[seconds_of(video_media, "red"), seconds_of(video_media, "blue"),
                          seconds_of(video_media, "texture")]]  # fmt: skip
    assert static.max() < 0.01
    assert moving.min() > 10 * max(static.max(), 1e-3)


def test_hard_cuts_show_as_motion_peaks(video_media, features):
    peak = features[:, col("motion_max")]
    cut_seconds = [2, 4, 6]  # the cuts between the static shots' seconds
    quiet_seconds = [1, 3, 5]
    assert peak[cut_seconds[:2]].min() > 5 * peak[quiet_seconds].max() + 0.02


def test_shots_are_separated(video_media, features):
    std = features.std(0)
    z = (features - features.mean(0)) / np.where(std > 0, std, 1.0)
    means = {shot: z[seconds_of(video_media, shot)].mean(0) for shot in video_media.shots}
    for shot in video_media.shots:
        for row in z[seconds_of(video_media, shot)]:
            nearest = min(means, key=lambda s: np.linalg.norm(row - means[s]))
            assert nearest == shot


def test_rgb_to_hsv_matches_the_textbook_values():
    rgb = np.array([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0.5, 0.5, 0.5], [0, 0, 0]],
                   np.float32)  # fmt: skip
    hue, saturation, value = rgb_to_hsv(rgb)
    np.testing.assert_allclose(hue, [0, 1 / 3, 2 / 3, 1 / 6, 0, 0], atol=1e-6)
    np.testing.assert_allclose(saturation, [1, 1, 1, 1, 0, 0])
    np.testing.assert_allclose(value, [1, 1, 1, 1, 0.5, 0])


@pytest.mark.parametrize(
    "frames, fps",
    [
        (np.zeros((4, 36, 64, 3), np.float32), 4.0),
        (np.zeros((4, 36, 64), np.uint8), 4.0),
        (np.zeros((0, 36, 64, 3), np.uint8), 4.0),
        (np.zeros((4, 2, 64, 3), np.uint8), 4.0),
        (np.zeros((4, 36, 64, 3), np.uint8), 0.0),
        (np.zeros((4, 36, 64, 3), np.uint8), float("nan")),
    ],
)
def test_bad_input(extractor, frames, fps):
    with pytest.raises(FeatureInputError):
        extractor.extract(frames, fps)


def test_features_straight_from_the_file(video_media, features):
    from ml.features.from_file import extract_file

    result = extract_file(video_media.path, "handcrafted", "video")
    np.testing.assert_array_equal(result.features, features)
    assert result.spec.key.startswith("video/handcrafted@") and result.duration_s == 8.0
