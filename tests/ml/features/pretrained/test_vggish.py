"""The ``vggish`` extractor: preprocessing, the 1 Hz rule, weight loading and its errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from ml.features import FeatureInputError, available_extractors, get_extractor
from ml.features.pretrained import PretrainedWeightsError, pretrained_status
from ml.features.pretrained.vggish import (
    EXAMPLE_FRAMES,
    SAMPLE_RATE,
    VGGishAudio,
    VGGishPCA,
    example_rows,
    log_mel_examples,
    log_mel_spectrogram,
)
from ml.features.pretrained.vggish_net import VGGishNet
from ml.media.decode import load_audio

pytestmark = pytest.mark.usefixtures("no_pretrained_config")


@pytest.fixture(scope="module")
def vggish(vggish_weights: Path) -> VGGishAudio:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("V2M_VGGISH_PCA", raising=False)
        patch.setenv("V2M_VGGISH_WEIGHTS", str(vggish_weights))
        return VGGishAudio()


@pytest.fixture(scope="module")
def decoded(audio_file: Path) -> np.ndarray:
    return load_audio(audio_file, sr=SAMPLE_RATE)


@pytest.fixture(scope="module")
def features(vggish: VGGishAudio, decoded: np.ndarray) -> np.ndarray:
    return vggish.extract(decoded, SAMPLE_RATE)


def test_network_has_the_torchvggish_parameter_names_and_size() -> None:
    state = VGGishNet().state_dict()
    convolutions = [f"features.{i}.{p}" for i in (0, 3, 6, 8, 11, 13) for p in ("weight", "bias")]
    dense = [f"embeddings.{i}.{p}" for i in (0, 2, 4) for p in ("weight", "bias")]
    assert list(state) == convolutions + dense
    assert tuple(state["embeddings.0.weight"].shape) == (4096, 512 * 6 * 4)
    assert sum(v.numel() for v in state.values()) == 72_141_184  # VGGish's published size


def test_log_mel_frames_and_peak_band_of_a_tone() -> None:
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    low = log_mel_spectrogram(np.sin(2 * np.pi * 300 * t))
    high = log_mel_spectrogram(np.sin(2 * np.pi * 3000 * t))
    assert low.shape == (1 + (SAMPLE_RATE - 400) // 160, 64) and low.dtype == np.float32

    # 64 bands evenly spaced on the HTK mel scale, 1127 ln(1 + f / 700), from 125 to 7500 Hz.
    def band_of(hz: float) -> float:
        mel_low, mel_high = (1127 * np.log1p(f / 700) for f in (125.0, 7500.0))
        return (1127 * np.log1p(hz / 700) - mel_low) / ((mel_high - mel_low) / 65) - 1

    assert abs(low.mean(0).argmax() - band_of(300)) <= 1  # band 4.45
    assert abs(high.mean(0).argmax() - band_of(3000)) <= 1  # band 41.5
    # log(0 + 0.01) is the floor: silence sits exactly there.
    assert np.allclose(log_mel_spectrogram(np.zeros(SAMPLE_RATE)), np.log(0.01))


def test_examples_are_non_overlapping_and_short_signals_are_padded() -> None:
    y = np.random.default_rng(0).standard_normal(3 * SAMPLE_RATE)
    examples = log_mel_examples(y)
    assert examples.shape == (3, EXAMPLE_FRAMES, 64)
    assert np.array_equal(examples[1], log_mel_spectrogram(y)[96:192])
    assert log_mel_examples(y[:800]).shape == (1, EXAMPLE_FRAMES, 64)


def test_each_second_averages_the_examples_overlapping_it() -> None:
    # Examples span [0, .96), [.96, 1.92), [1.92, 2.88); a fourth second has none.
    weights = example_rows(3, 4)
    expected = np.array([[0.5, 0.5, 0], [0, 0.5, 0.5], [0, 0, 1], [0, 0, 1]], dtype=np.float32)
    assert np.allclose(weights, expected)
    # 25 examples end at 24.0 s exactly: second 24 does not overlap the last one... but
    # it is the nearest; second 23 overlaps examples 23 (22.08-23.04) and 24 (23.04-24.0).
    weights = example_rows(25, 25)
    assert np.flatnonzero(weights[23]).tolist() == [23, 24]
    assert np.flatnonzero(weights[24]).tolist() == [24]
    assert np.allclose(weights.sum(1), 1.0)


def test_features_at_1_hz_from_a_decoded_file(
    vggish: VGGishAudio, decoded: np.ndarray, features: np.ndarray
) -> None:
    assert features.shape == (math.ceil(decoded.size / SAMPLE_RATE), 128) == (4, 128)
    assert features.dtype == np.float32 and np.isfinite(features).all()
    # Row 0 is exactly the mean of the first two examples' embeddings, and the
    # embeddings are deterministic.
    embeddings = vggish.embed_examples(log_mel_examples(decoded))
    assert np.allclose(features[0], embeddings[:2].mean(0), atol=1e-5)
    assert np.allclose(features[2], embeddings[2], atol=1e-5)  # 2-2.88 s: example 2 only
    # The chord and the noise bursts are different sounds, even to random weights.
    assert not np.allclose(features[0], features[3], atol=1e-3)


@pytest.mark.slow
def test_other_sample_rates_are_resampled(
    vggish: VGGishAudio, audio_file: Path, features: np.ndarray
) -> None:
    at_22k = vggish.extract(load_audio(audio_file, sr=22050), 22050)
    assert at_22k.shape == (4, 128)
    assert np.corrcoef(at_22k.ravel(), features.ravel())[0, 1] > 0.99


def test_a_signal_shorter_than_one_example_gives_one_row(vggish: VGGishAudio) -> None:
    y = 0.1 * np.sin(2 * np.pi * 440 * np.arange(4000) / SAMPLE_RATE).astype(np.float32)
    assert vggish.extract(y, SAMPLE_RATE).shape == (1, 128)


@pytest.mark.parametrize(
    ("y", "sr"),
    [
        (np.zeros((2, 100), np.float32), 16000),
        (np.zeros(0, np.float32), 16000),
        (np.zeros(100, np.int16), 16000),
        (np.full(100, np.nan, np.float32), 16000),
        (np.zeros(100, np.float32), 0),
    ],
)
def test_bad_signals_raise_feature_input_error(vggish: VGGishAudio, y: np.ndarray, sr: int) -> None:
    with pytest.raises(FeatureInputError):
        vggish.extract(y, sr)


def test_pca_post_processing_gives_audioset_quantised_values(
    vggish: VGGishAudio, vggish_pca: Path, decoded: np.ndarray
) -> None:
    examples = log_mel_examples(decoded)
    raw = vggish.embed_examples(examples)
    quantised = VGGishPCA.from_file(vggish_pca)(raw)
    assert quantised.min() >= 0 and quantised.max() <= 255
    assert np.array_equal(quantised, np.round(quantised))
    assert len(np.unique(quantised)) > 50  # the test parameters spread values over the range
    # The same as torchvggish's Postprocessor formula, written out.
    params = torch.load(vggish_pca, weights_only=False)
    projected = (params["pca_eigen_vectors"] @ (raw.T - params["pca_means"])).T
    expected = np.round((np.clip(projected, -2, 2) + 2) * 255 / 4)
    assert np.abs(quantised - expected).max() <= 1  # a rounding step at most (float32 vs 64)


def test_configured_pca_is_applied_and_versioned(
    monkeypatch: pytest.MonkeyPatch,
    vggish: VGGishAudio,
    vggish_weights: Path,
    vggish_pca: Path,
    decoded: np.ndarray,
) -> None:
    monkeypatch.setenv("V2M_VGGISH_WEIGHTS", str(vggish_weights))
    monkeypatch.setenv("V2M_VGGISH_PCA", str(vggish_pca))
    with_pca = VGGishAudio()
    assert with_pca.version.startswith(vggish.version + "-pca-")
    examples = log_mel_examples(decoded)
    expected = VGGishPCA.from_file(vggish_pca)(vggish.embed_examples(examples))
    assert np.array_equal(with_pca.embed_examples(examples), expected)


def test_pca_identity_keeps_the_embedding_order() -> None:
    pca = VGGishPCA(np.eye(128), np.zeros((128, 1)))
    embeddings = np.linspace(-3, 3, 256, dtype=np.float32).reshape(2, 128)
    out = pca(embeddings)
    assert out[0, 0] == 0 and out[1, -1] == 255 and np.all(np.diff(out.ravel()) >= 0)


def test_version_carries_the_weights_digest(vggish: VGGishAudio) -> None:
    assert vggish.version.startswith("1-") and len(vggish.version) == 14
    assert vggish.spec.key == f"audio/vggish@{vggish.version}" and vggish.spec.dim == 128


def test_registry_lists_vggish_and_serves_it_when_configured(
    monkeypatch: pytest.MonkeyPatch, vggish_weights: Path, fresh_registry: None
) -> None:
    assert ("audio", "vggish") in available_extractors("audio")
    monkeypatch.setenv("V2M_VGGISH_WEIGHTS", str(vggish_weights))
    assert isinstance(get_extractor("vggish", "audio"), VGGishAudio)


def test_unconfigured_weights_raise_a_clear_error(fresh_registry: None) -> None:
    with pytest.raises(PretrainedWeightsError, match="V2M_VGGISH_WEIGHTS is not set") as info:
        get_extractor("vggish", "audio")
    assert info.value.reason == "not_configured" and "torchvggish" in str(info.value)
    status = {s.name: s for s in pretrained_status()}
    assert not status["vggish"].configured and "V2M_VGGISH_WEIGHTS" in status["vggish"].problem


def test_missing_file_raises_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fresh_registry: None
) -> None:
    monkeypatch.setenv("V2M_VGGISH_WEIGHTS", str(tmp_path / "absent.pth"))
    with pytest.raises(PretrainedWeightsError, match="names no file") as info:
        get_extractor("vggish", "audio")
    assert info.value.reason == "missing" and info.value.variable == "V2M_VGGISH_WEIGHTS"


def test_a_file_that_is_not_a_weight_file_is_unreadable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "notes.pth"
    path.write_text("these are not weights")
    monkeypatch.setenv("V2M_VGGISH_WEIGHTS", str(path))
    with pytest.raises(PretrainedWeightsError, match="not a readable PyTorch") as info:
        VGGishAudio()
    assert info.value.reason == "unreadable"


def test_wrong_keys_and_shapes_are_listed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    state = {k: torch.zeros(v.shape) for k, v in VGGishNet().state_dict().items()}
    state["features.1.weight"] = state.pop("features.0.weight")  # a renamed key
    state["embeddings.4.weight"] = torch.zeros(64, 4096)  # a wrong shape
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    monkeypatch.setenv("V2M_VGGISH_WEIGHTS", str(path))
    with pytest.raises(PretrainedWeightsError) as info:
        VGGishAudio()
    message = str(info.value)
    assert info.value.reason == "wrong_format"
    assert "missing keys: features.0.weight" in message
    assert "unexpected keys: features.1.weight" in message
    assert "embeddings.4.weight (64, 4096) instead of (128, 4096)" in message


def test_a_wrong_pca_file_raises(
    monkeypatch: pytest.MonkeyPatch, vggish_weights: Path, tmp_path: Path
) -> None:
    path = tmp_path / "pca.pth"
    torch.save({"pca_eigen_vectors": torch.zeros(64, 128), "pca_means": torch.zeros(128)}, path)
    monkeypatch.setenv("V2M_VGGISH_WEIGHTS", str(vggish_weights))
    monkeypatch.setenv("V2M_VGGISH_PCA", str(path))
    with pytest.raises(PretrainedWeightsError, match="V2M_VGGISH_PCA") as info:
        VGGishAudio()
    assert info.value.reason == "wrong_format"
