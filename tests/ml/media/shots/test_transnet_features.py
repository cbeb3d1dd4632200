"""The "transnet" video extractors: TransNetV2 layers pooled to 1 Hz."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ml.features.transnet  # noqa: F401  (registers the extractors)
from ml.features.registry import FeatureInputError, get_extractor
from ml.features.transnet import transnet_features
from ml.media.decode import load_video_frames
from ml.media.shots import ShotDetector


def test_registered_with_identity():
    for name, dim in (("transnet", 1024), ("transnet_similarity", 128)):
        extractor = get_extractor(name, "video")
        assert extractor.spec.dim == dim and extractor.spec.modality == "video"
        assert extractor.frame_size == (48, 27) and extractor.frame_rate is None


def test_extractor_equals_pooled_shot_pass(cut_video, cut_shots):
    frames = load_video_frames(cut_video.path, None, 48, 27)
    features = get_extractor("transnet", "video").extract(frames, 25.0)
    assert features.shape == (12, 1024) and features.dtype == np.float32
    np.testing.assert_array_equal(features, transnet_features(cut_shots.result, cut_shots.fps))
    # 1 Hz rows are means of the per-frame layer over each second.
    np.testing.assert_allclose(
        features[3], cut_shots.result.embeddings[75:100].mean(0), rtol=1e-5, atol=1e-6
    )


def test_partial_last_second_has_a_row(cpu_detector):
    frames = np.random.default_rng(0).integers(0, 256, (70, 27, 48, 3), dtype=np.uint8)
    result = cpu_detector.detect(frames, return_features=True)
    for name, layer, dim in (
        ("transnet", "embeddings", 1024),
        ("transnet_similarity", "similarity_embeddings", 128),
    ):
        features = get_extractor(name, "video").extract(frames, 25.0)
        assert features.shape == (math.ceil(70 / 25), dim)
        np.testing.assert_array_equal(features, transnet_features(result, 25.0, layer))
        np.testing.assert_allclose(
            features[2], getattr(result, layer)[50:].mean(0), rtol=1e-5, atol=1e-6
        )


def test_bad_input_raises(cpu_detector):
    extractor = get_extractor("transnet", "video")
    with pytest.raises(FeatureInputError):
        extractor.extract(np.zeros((10, 90, 160, 3), np.uint8), 25.0)
    with pytest.raises(FeatureInputError):
        extractor.extract(np.zeros((10, 27, 48, 3), np.uint8), 0.0)
    frames = np.zeros((30, 27, 48, 3), np.uint8)
    with pytest.raises(FeatureInputError):
        transnet_features(cpu_detector.detect(frames), 25.0)
    with pytest.raises(ValueError):
        transnet_features(cpu_detector.detect(frames, return_features=True), 25.0, "fc2")


def test_rows_of_a_window_beyond_its_centre():
    """Every row of a window can be read; its central 50 are the kept frames', and rows
    outside a 100-frame window are refused."""
    import torch

    network = ShotDetector(device="cpu", backend="torch").backend.network
    frames = np.random.default_rng(1).integers(0, 256, (1, 100, 27, 48, 3), dtype=np.uint8)
    window = torch.from_numpy(frames)
    with torch.inference_mode():
        kept = network(window)
        every = network(window, rows=slice(0, 100))
    assert every[1].shape == (1, 100, 1024) and every[2].shape == (1, 100, 128)
    for ours, theirs in zip(every, kept, strict=True):
        np.testing.assert_allclose(ours[:, 25:75].numpy(), theirs.numpy(), rtol=1e-5, atol=1e-6)
    for bad in (slice(0, 101), slice(50, 50), slice(0, 100, 2), slice(None, 10)):
        with pytest.raises(ValueError, match="rows"):
            network(window, rows=bad)
