"""Float32 that means float32 on a GPU: the same shots and features on every worker.

By default PyTorch lets cuDNN compute float32 convolutions in TF32 (products with a
10-bit mantissa) on Ampere and later GPUs. On an H100 that moved TransNetV2's
transition probabilities by up to 1.2e-3 and MusiCNN's penultimate features by
1.2e-3 to 1.6e-3 against the CPU (``python -m bench.bench_gpu``): enough for a probability to
cross the shot threshold now and then, and more than the 1e-3 that the MusiCNN port
keeps against the original model. One deployment mixes CPU and GPU workers over one
catalog, so what a network computes must not depend on the worker that ran it: the
convolutional networks run in full float32 on CUDA.
"""

from __future__ import annotations

import torch

__all__ = ["use_full_float32"]


def use_full_float32(device: torch.device) -> None:
    """Turn TF32 off for convolutions and matrix products when ``device`` is CUDA.

    The switches are process-wide (PyTorch has no per-module ones): a process that
    runs our networks on a GPU computes every float32 convolution in full precision.
    A no-op for other devices.
    """
    if device.type == "cuda":
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
