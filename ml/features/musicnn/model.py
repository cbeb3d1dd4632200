"""MusiCNN (Pons & Serra, 2019) in PyTorch, loading the ``musicnn`` wheel's weights.

A line-by-line port of ``musicnn/models.py::build_musicnn`` (TensorFlow 1,
NHWC, time on the height axis and mel bands on the width axis). For a patch of
``n_frames`` log-mel frames with 96 bands:

* **front-end**: batch norm of the input, then musically motivated
  convolutions, each followed by ReLU, batch norm and a max over frequency:
  two *timbral* filters spanning 7 frames and 38 or 67 bands (40 % and 70 % of
  96; 204 maps each, time padded by 3 so the output keeps ``n_frames``) and
  three *temporal* filters spanning 128, 64 and 32 frames by one band (51 maps
  each, TensorFlow ``'same'`` padding);
* **mid-end**: three 1-D convolutions over time (7 frames, 64 maps) on the
  concatenated 561 front-end maps, the second and third with residual
  connections; front-end and mid-end outputs are concatenated (753 maps);
* **back-end**: max and mean over time, interleaved per map as TensorFlow's
  ``concat(axis=2)`` + ``flatten`` lays them out (1,506 values), batch norm,
  a 200-unit ReLU layer followed by batch norm (**the penultimate features**),
  and the 50-unit tag layer (sigmoid).

Layout notes for the weight mapping: TF conv kernels are
``(k_time, k_freq, in, out)`` and become PyTorch ``(out, in, k_time, k_freq)``;
the mid-end kernels span the whole feature axis, which is exactly a
``Conv1d`` over time with the maps as channels. TF ``'same'`` padding of an even
kernel ``k`` puts ``(k - 1) // 2`` zeros before and the rest after, unlike
PyTorch's symmetric padding, so it is applied explicitly. Batch norm runs in
inference mode with the moving statistics and ``tf.layers``' epsilon of 1e-3.
Dropout is the identity at inference and is left out.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "BN_EPSILON",
    "N_MELS",
    "PORT_REVISION",
    "MusiCNN",
    "load_tf_weights",
]

N_MELS = 96
#: Revision of this port's graph: part of the cached ONNX file's name, so bump it
#: whenever a change here alters the exported graph.
PORT_REVISION = 1
#: ``tf.compat.v1.layers.batch_normalization``'s default epsilon.
BN_EPSILON = 1e-3
_TIMBRAL_WIDTHS = (int(0.4 * N_MELS), int(0.7 * N_MELS))  # 38, 67 bands
_TEMPORAL_LENGTHS = (128, 64, 32)  # frames
_TIMBRAL_FILTERS = int(1.6 * 128)  # 204
_TEMPORAL_FILTERS = int(1.6 * 32)  # 51
_MIDEND_KERNEL = 7


def _same_padding(kernel: int) -> tuple[int, int]:
    """TensorFlow's ``'same'`` padding (stride 1): the extra zero goes after."""
    before = (kernel - 1) // 2
    return before, kernel - 1 - before


class _FrontEndBranch(nn.Module):
    """conv -> ReLU -> batch norm -> max over frequency, on ``(B, 1, T, F)``."""

    def __init__(self, filters: int, kernel: tuple[int, int]) -> None:
        super().__init__()
        self.kernel = kernel
        self.conv = nn.Conv2d(1, filters, kernel)
        self.bn = nn.BatchNorm2d(filters, eps=BN_EPSILON)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k_time, k_freq = self.kernel
        if k_freq > 1:  # timbral: time padded 3 + 3, frequency 'valid'
            x = F.pad(x, (0, 0, 3, 3))
        else:  # temporal: 'same' along time (nothing to pad along frequency)
            x = F.pad(x, (0, 0, *_same_padding(k_time)))
        x = self.bn(F.relu(self.conv(x)))
        return x.amax(dim=3)  # (B, filters, T)


class _MidEndLayer(nn.Module):
    """Conv1d over time (padded 3 + 3) -> ReLU -> batch norm, on ``(B, C, T)``."""

    def __init__(self, in_channels: int, filters: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_channels, filters, _MIDEND_KERNEL, padding=_MIDEND_KERNEL // 2)
        self.bn = nn.BatchNorm1d(filters, eps=BN_EPSILON)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(F.relu(self.conv(x)))


class MusiCNN(nn.Module):
    """The MusiCNN tagger.

    ``forward(log_mel)`` takes ``(B, n_frames, 96)`` log-compressed mel patches
    (``n_frames`` = 187 for the 3 s the models were trained on; other lengths
    work, as in the original) and returns ``(taggram (B, n_tags) in [0, 1],
    penultimate (B, n_units))``.
    """

    def __init__(self, n_tags: int = 50, midend_filters: int = 64, backend_units: int = 200):
        super().__init__()
        self.input_bn = nn.BatchNorm2d(1, eps=BN_EPSILON)
        self.timbral = nn.ModuleList(
            _FrontEndBranch(_TIMBRAL_FILTERS, (7, width)) for width in _TIMBRAL_WIDTHS
        )
        self.temporal = nn.ModuleList(
            _FrontEndBranch(_TEMPORAL_FILTERS, (length, 1)) for length in _TEMPORAL_LENGTHS
        )
        frontend_maps = (
            len(_TIMBRAL_WIDTHS) * _TIMBRAL_FILTERS + len(_TEMPORAL_LENGTHS) * _TEMPORAL_FILTERS
        )
        self.midend = nn.ModuleList(
            [
                _MidEndLayer(frontend_maps, midend_filters),
                _MidEndLayer(midend_filters, midend_filters),
                _MidEndLayer(midend_filters, midend_filters),
            ]
        )
        pooled = 2 * (frontend_maps + 3 * midend_filters)
        self.pool_bn = nn.BatchNorm1d(pooled, eps=BN_EPSILON)
        self.dense = nn.Linear(pooled, backend_units)
        self.dense_bn = nn.BatchNorm1d(backend_units, eps=BN_EPSILON)
        self.tags = nn.Linear(backend_units, n_tags)

    def forward(self, log_mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.input_bn(log_mel.unsqueeze(1))  # (B, 1, T, 96)
        frontend = torch.cat([branch(x) for branch in (*self.timbral, *self.temporal)], dim=1)

        cnn1 = self.midend[0](frontend)
        cnn2 = self.midend[1](cnn1) + cnn1
        cnn3 = self.midend[2](cnn2) + cnn2
        features = torch.cat([frontend, cnn1, cnn2, cnn3], dim=1)  # (B, 753, T)

        # TF concatenates (max, mean) on a trailing axis and flattens: interleaved.
        pooled = torch.stack([features.amax(dim=2), features.mean(dim=2)], dim=2).flatten(1)
        penultimate = self.dense_bn(F.relu(self.dense(self.pool_bn(pooled))))
        taggram = torch.sigmoid(self.tags(penultimate))
        return taggram, penultimate


def _copy_batch_norm(bn: nn.modules.batchnorm._BatchNorm, weights: dict, scope: str) -> None:
    bn.weight.data = torch.from_numpy(weights[f"{scope}/gamma"])
    bn.bias.data = torch.from_numpy(weights[f"{scope}/beta"])
    bn.running_mean.data = torch.from_numpy(weights[f"{scope}/moving_mean"])
    bn.running_var.data = torch.from_numpy(weights[f"{scope}/moving_variance"])


def _bn_scope(i: int) -> str:
    return "batch_normalization" if i == 0 else f"batch_normalization_{i}"


def _conv_scope(i: int) -> str:
    return "conv2d" if i == 0 else f"conv2d_{i}"


def load_tf_weights(model: MusiCNN, weights: dict[str, np.ndarray]) -> MusiCNN:
    """Copy the variables of a ``build_musicnn`` TF checkpoint into ``model``.

    TF1 layers are named in creation order (``conv2d``, ``conv2d_1``...,
    ``batch_normalization``, ``batch_normalization_1``...), so the mapping
    follows the order in which ``build_musicnn`` creates them: input batch norm,
    timbral 7x38 and 7x67, temporal 128, 64 and 32, three mid-end layers, then
    the back-end's two batch norms and two dense layers.

    Returns ``model`` in eval mode.

    Raises
    ------
    KeyError
        A variable the architecture needs is not in ``weights``.
    ValueError
        A variable's shape does not match the architecture.
    """
    branches = [*model.timbral, *model.temporal]
    convs: list[tuple[nn.Module, nn.Module]] = [(b.conv, b.bn) for b in branches]
    convs += [(layer.conv, layer.bn) for layer in model.midend]
    try:
        _copy_batch_norm(model.input_bn, weights, _bn_scope(0))
        for i, (conv, bn) in enumerate(convs):
            kernel = weights[f"{_conv_scope(i)}/kernel"]  # (k_time, k_freq, in, out)
            if isinstance(conv, nn.Conv1d):
                # The kernel spans the whole feature axis with one input channel.
                kernel = kernel[:, :, 0, :].transpose(2, 1, 0)  # (out, maps, k_time)
            else:
                kernel = kernel.transpose(3, 2, 0, 1)  # (out, in, k_time, k_freq)
            if kernel.shape != tuple(conv.weight.shape):
                raise ValueError(
                    f"{_conv_scope(i)}/kernel maps to {kernel.shape}, expected {tuple(conv.weight.shape)}"
                )
            conv.weight.data = torch.from_numpy(np.ascontiguousarray(kernel))
            conv.bias.data = torch.from_numpy(weights[f"{_conv_scope(i)}/bias"])
            _copy_batch_norm(bn, weights, _bn_scope(i + 1))
        n_bn = len(convs) + 1
        _copy_batch_norm(model.pool_bn, weights, _bn_scope(n_bn))
        _copy_batch_norm(model.dense_bn, weights, _bn_scope(n_bn + 1))
        for linear, scope in ((model.dense, "dense"), (model.tags, "dense_1")):
            kernel = weights[f"{scope}/kernel"].T  # TF (in, out) -> PyTorch (out, in)
            if kernel.shape != tuple(linear.weight.shape):
                raise ValueError(
                    f"{scope}/kernel is {kernel.shape[::-1]}, expected {tuple(linear.weight.shape)[::-1]}"
                )
            linear.weight.data = torch.from_numpy(np.ascontiguousarray(kernel))
            linear.bias.data = torch.from_numpy(weights[f"{scope}/bias"])
    except KeyError as missing:
        raise KeyError(f"MusiCNN checkpoint lacks variable {missing}") from None
    return model.eval()
