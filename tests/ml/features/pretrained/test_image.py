"""The ``imagenet`` extractor: the torchvision-compatible ResNet, ImageNet
preprocessing, features at 1 Hz, weight loading and its errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ml.features import FeatureInputError, available_extractors, get_extractor
from ml.features.pretrained import PretrainedWeightsError
from ml.features.pretrained.image import (
    FRAME_RATE,
    FRAME_SIZE,
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageNetVideo,
    imagenet_preprocess,
)
from ml.features.pretrained.resnet import resnet
from ml.media.decode import load_video_frames

pytestmark = pytest.mark.usefixtures("no_pretrained_config")


@pytest.fixture(scope="module")
def imagenet(resnet18_weights: Path) -> ImageNetVideo:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("V2M_IMAGENET_WEIGHTS", str(resnet18_weights))
        patch.setenv("V2M_IMAGENET_ARCH", "resnet18")
        return ImageNetVideo()


@pytest.fixture(scope="module")
def frames(video_file: Path) -> np.ndarray:
    width, height = FRAME_SIZE
    return load_video_frames(video_file, FRAME_RATE, width, height)


@pytest.mark.parametrize(
    ("arch", "n_keys", "n_parameters", "dim"),
    # torchvision's state_dicts have 122 and 320 entries, 11,689,512 and 25,557,032
    # parameters, of which fc holds 513,000 and 2,049,000.
    [("resnet18", 120, 11_689_512 - 513_000, 512), ("resnet50", 318, 25_557_032 - 2_049_000, 2048)],
)
def test_resnets_match_torchvision_layout_and_size(
    arch: str, n_keys: int, n_parameters: int, dim: int
) -> None:
    with torch.device("meta"):
        network = resnet(arch)
    state = network.state_dict()
    assert len(state) == n_keys and network.dim == dim
    assert sum(p.numel() for p in network.parameters()) == n_parameters
    for key in ("conv1.weight", "bn1.running_var", "layer1.0.conv1.weight",
                "layer2.0.downsample.0.weight", "layer4.1.bn2.num_batches_tracked"):  # fmt: skip
        assert key in state
    if arch == "resnet50":  # v1.5: the stride is in the 3 x 3 convolution
        assert network.layer2[0].conv2.stride == (2, 2) and network.layer2[0].conv1.stride == (1, 1)


def test_preprocessing_is_resize_centre_crop_and_normalise() -> None:
    frames = np.zeros((2, 180, 320, 3), np.uint8)
    frames[0] = (255, 128, 0)
    frames[1, :, :160] = 255  # left half white: the crop keeps the middle 224 of 455 columns
    images = imagenet_preprocess(frames)
    assert images.shape == (2, 3, 224, 224) and images.dtype == torch.float32
    expected = (np.array([1.0, 128 / 255, 0.0]) - IMAGENET_MEAN) / IMAGENET_STD
    assert np.allclose(images[0].mean(dim=(1, 2)).numpy(), expected, atol=1e-5)
    white = (1 - np.array(IMAGENET_MEAN)) / IMAGENET_STD
    row = images[1, 0, 112].numpy()
    assert np.allclose(row[:50], white[0], atol=1e-4)  # ~ columns 116-227 of 455 are white
    assert np.allclose(row[-50:], -IMAGENET_MEAN[0] / IMAGENET_STD[0], atol=1e-4)


def test_features_at_1_hz_from_a_decoded_video(imagenet: ImageNetVideo, frames: np.ndarray) -> None:
    assert frames.shape == (6, 256, 456, 3)  # 3 s at 2 frames per second
    features = imagenet.extract(frames, FRAME_RATE)
    assert features.shape == (3, 512) and features.dtype == np.float32
    assert np.isfinite(features).all() and (features >= 0).all()  # pooled ReLU outputs
    # Each row is the mean of its second's two frames (computed again: deterministic).
    per_frame = imagenet.embed_frames(frames)
    assert np.allclose(features, per_frame.reshape(3, 2, 512).mean(1), atol=1e-5)
    # Red, blue and white shots: three different rows.
    assert not np.allclose(features[0], features[1], atol=1e-3)
    assert not np.allclose(features[1], features[2], atol=1e-3)


def test_a_single_frame_and_other_sizes_work(imagenet: ImageNetVideo) -> None:
    frame = np.full((1, 90, 120, 3), 60, np.uint8)  # 4:3, smaller than the crop: upsampled
    assert imagenet.extract(frame, 25.0).shape == (1, 512)


@pytest.mark.parametrize(
    ("frames", "fps"),
    [
        (np.zeros((2, 32, 32, 3), np.float32), 2.0),
        (np.zeros((2, 32, 32), np.uint8), 2.0),
        (np.zeros((0, 32, 32, 3), np.uint8), 2.0),
        (np.zeros((2, 8, 32, 3), np.uint8), 2.0),
        (np.zeros((2, 32, 32, 3), np.uint8), 0.0),
    ],
)
def test_bad_frames_raise_feature_input_error(
    imagenet: ImageNetVideo, frames: np.ndarray, fps: float
) -> None:
    with pytest.raises(FeatureInputError):
        imagenet.extract(frames, fps)


def test_identity_records_architecture_and_weights(imagenet: ImageNetVideo) -> None:
    assert imagenet.dim == 512 and imagenet.version.startswith("1-resnet18-")
    assert imagenet.spec.key == f"video/imagenet@{imagenet.version}"


def test_registry_serves_it_when_configured(
    monkeypatch: pytest.MonkeyPatch, resnet18_weights: Path, fresh_registry: None
) -> None:
    assert ("video", "imagenet") in available_extractors("video")
    monkeypatch.setenv("V2M_IMAGENET_WEIGHTS", str(resnet18_weights))
    monkeypatch.setenv("V2M_IMAGENET_ARCH", "resnet18")
    extractor = get_extractor("imagenet", "video")
    assert isinstance(extractor, ImageNetVideo) and extractor.spec.dim == 512


def test_unconfigured_and_missing_weights_raise_clear_errors(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fresh_registry: None
) -> None:
    with pytest.raises(PretrainedWeightsError, match="V2M_IMAGENET_WEIGHTS is not set") as info:
        get_extractor("imagenet", "video")
    assert info.value.reason == "not_configured" and "torchvision resnet50" in str(info.value)
    monkeypatch.setenv("V2M_IMAGENET_WEIGHTS", str(tmp_path / "absent.pth"))
    with pytest.raises(PretrainedWeightsError, match="names no file") as info:
        get_extractor("imagenet", "video")
    assert info.value.reason == "missing"


def test_weights_of_another_architecture_are_refused(
    monkeypatch: pytest.MonkeyPatch, resnet18_weights: Path
) -> None:
    monkeypatch.setenv("V2M_IMAGENET_WEIGHTS", str(resnet18_weights))  # arch defaults to resnet50
    with pytest.raises(PretrainedWeightsError, match="does not match the architecture") as info:
        ImageNetVideo()
    assert info.value.reason == "wrong_format"
    assert "missing keys: layer1.0.bn3.bias" in str(info.value)  # a bottleneck's third layer
    assert "V2M_IMAGENET_ARCH" in str(info.value)  # the likely fix


def test_an_unknown_architecture_is_refused(
    monkeypatch: pytest.MonkeyPatch, resnet18_weights: Path
) -> None:
    monkeypatch.setenv("V2M_IMAGENET_WEIGHTS", str(resnet18_weights))
    monkeypatch.setenv("V2M_IMAGENET_ARCH", "vgg16")
    with pytest.raises(PretrainedWeightsError, match="V2M_IMAGENET_ARCH") as info:
        ImageNetVideo()
    assert info.value.variable == "V2M_IMAGENET_ARCH"


@pytest.mark.slow
def test_wrapped_checkpoints_and_half_precision_files_load(
    monkeypatch: pytest.MonkeyPatch,
    resnet18_weights: Path,
    imagenet: ImageNetVideo,
    tmp_path: Path,
) -> None:
    """A training checkpoint ({"state_dict": {"module.conv1.weight": ...}}) saved in float16."""
    state = torch.load(resnet18_weights, weights_only=True)
    wrapped = {"epoch": 90, "state_dict": {f"module.{k}": v.half() if v.is_floating_point() else v
                                           for k, v in state.items()}}  # fmt: skip
    path = tmp_path / "checkpoint.pth"
    torch.save(wrapped, path)
    monkeypatch.setenv("V2M_IMAGENET_WEIGHTS", str(path))
    monkeypatch.setenv("V2M_IMAGENET_ARCH", "resnet18")
    half = ImageNetVideo()
    assert half.network.conv1.weight.dtype == torch.float32
    frame = np.random.default_rng(0).integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    reference = imagenet.embed_frames(frame)
    assert np.allclose(half.embed_frames(frame), reference, rtol=0.05, atol=0.05)
