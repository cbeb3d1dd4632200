"""The PyTorch port: shapes, the TF kernel/padding mapping checked against a NumPy
rendering of TensorFlow's NHWC semantics, weight-loading errors, ONNX parity."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml.features.musicnn.checkpoint import read_checkpoint
from ml.features.musicnn.extractor import (
    PATCH_FRAMES,
    log_mel_spectrogram,
    patches_per_second,
)
from ml.features.musicnn.model import BN_EPSILON, MusiCNN, load_tf_weights


@pytest.fixture(scope="module")
def weights(msd_prefix) -> dict[str, np.ndarray]:
    return read_checkpoint(msd_prefix)


@pytest.fixture(scope="module")
def port(weights) -> MusiCNN:
    return load_tf_weights(MusiCNN(), weights)


@pytest.fixture(scope="module")
def patches(drums, pad) -> np.ndarray:
    """Real log-mel patches: two seconds of drums, two of the pad."""
    return np.concatenate(
        [patches_per_second(log_mel_spectrogram(y), 6)[2:4] for y in (drums, pad)]
    )


def tf_batch_norm(x: np.ndarray, weights: dict, scope: str) -> np.ndarray:
    scale = weights[f"{scope}/gamma"] / np.sqrt(weights[f"{scope}/moving_variance"] + BN_EPSILON)
    return (x - weights[f"{scope}/moving_mean"]) * scale + weights[f"{scope}/beta"]


def tf_conv_nhwc(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """'valid' cross-correlation of one (H, W, 1) image with a (kh, kw, 1, out) kernel."""
    kh, kw = kernel.shape[:2]
    windows = np.lib.stride_tricks.sliding_window_view(x[:, :, 0], (kh, kw))
    return np.tensordot(windows, kernel[:, :, 0, :], axes=([2, 3], [0, 1])) + bias


def test_forward_shapes_and_ranges(port, patches):
    with torch.inference_mode():
        taggram, penultimate = port(torch.from_numpy(patches))
        short_tags, _ = port(torch.from_numpy(patches[:, :100]))  # other lengths work
    assert taggram.shape == (4, 50) and penultimate.shape == (4, 200)
    assert short_tags.shape == (4, 50)
    assert torch.all((taggram > 0) & (taggram < 1))
    assert torch.isfinite(penultimate).all()


def test_timbral_and_temporal_branches_follow_tensorflow_nhwc_semantics(port, weights, patches):
    """Time on TF's height axis, bands on its width; timbral filters pad time 3 + 3,
    temporal ones use TF 'same' padding (63 zeros before, 64 after for 128 frames)."""
    x = tf_batch_norm(patches[0][:, :, None], weights, "batch_normalization")  # (T, 96, 1)
    with torch.inference_mode():
        x_torch = port.input_bn(torch.from_numpy(patches[:1]).unsqueeze(1))
        timbral = port.timbral[0](x_torch)[0].numpy().T  # (T, 204)
        temporal = port.temporal[0](x_torch)[0].numpy().T  # (T, 51)

    padded = np.pad(x, ((3, 3), (0, 0), (0, 0)))
    conv = tf_conv_nhwc(padded, weights["conv2d/kernel"], weights["conv2d/bias"])
    expected = tf_batch_norm(np.maximum(conv, 0), weights, "batch_normalization_1").max(axis=1)
    np.testing.assert_allclose(timbral, expected, atol=1e-4)

    padded = np.pad(x, ((63, 64), (0, 0), (0, 0)))
    conv = tf_conv_nhwc(padded, weights["conv2d_2/kernel"], weights["conv2d_2/bias"])
    expected = tf_batch_norm(np.maximum(conv, 0), weights, "batch_normalization_3").max(axis=1)
    assert expected.shape == (PATCH_FRAMES, 51)
    np.testing.assert_allclose(temporal, expected, atol=1e-4)


def test_backend_interleaves_max_and_mean_pooling_like_tf_flatten(port, weights, patches):
    """TF concatenates (max, mean) on a trailing axis and flattens: value 2c is the max of
    map c, value 2c + 1 its mean; the penultimate layer is dense -> ReLU -> batch norm."""
    captured = {}
    hook = port.pool_bn.register_forward_hook(lambda m, inputs, out: captured.update(x=inputs[0]))
    with torch.inference_mode():
        _, penultimate = port(torch.from_numpy(patches[:1]))
    hook.remove()
    pooled = captured["x"][0].numpy()
    assert pooled.shape == (1506,)
    flat = tf_batch_norm(pooled, weights, "batch_normalization_9")
    dense = np.maximum(flat @ weights["dense/kernel"] + weights["dense/bias"], 0)
    expected = tf_batch_norm(dense, weights, "batch_normalization_10")
    np.testing.assert_allclose(penultimate[0].numpy(), expected, atol=1e-4)
    # Maxima dominate means map by map, which holds only for the interleaved order.
    assert np.all(pooled[0::2] >= pooled[1::2] - 1e-6)


def test_loading_refuses_missing_or_misshapen_variables(weights):
    incomplete = {k: v for k, v in weights.items() if k != "conv2d_5/kernel"}
    with pytest.raises(KeyError, match="conv2d_5/kernel"):
        load_tf_weights(MusiCNN(), incomplete)
    misshapen = dict(weights, **{"dense/kernel": np.zeros((1506, 100), np.float32)})
    with pytest.raises(ValueError, match="dense/kernel"):
        load_tf_weights(MusiCNN(), misshapen)


def test_onnx_export_matches_torch(msd_model, patches):
    from ml.features.musicnn.extractor import MusicnnModel

    torch_model = MusicnnModel("MSD_musicnn", backend="torch", device="cpu")
    onnx_tags, onnx_feats = msd_model.predict(patches)
    torch_tags, torch_feats = torch_model.predict(patches)
    assert msd_model.onnx_path().is_file()
    np.testing.assert_allclose(onnx_tags, torch_tags, atol=1e-4)
    np.testing.assert_allclose(onnx_feats, torch_feats, atol=1e-4)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_agrees_with_the_cpu_in_full_float32(patches):
    from ml.features.musicnn.extractor import MusicnnModel

    on_cpu = MusicnnModel("MSD_musicnn", backend="torch", device="cpu").predict(patches)
    on_gpu = MusicnnModel("MSD_musicnn", backend="torch", device="cuda").predict(patches)
    for gpu, cpu in zip(on_gpu, on_cpu, strict=True):
        np.testing.assert_allclose(gpu, cpu, atol=1e-4)
