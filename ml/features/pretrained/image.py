"""The ``imagenet`` video extractor: ImageNet ResNet features at 1 Hz from
weights the deployment provides.

Weights: a torchvision ResNet state_dict (``conv1.weight``, ``bn1.*``,
``layer1.0.conv1.weight``, ..., ``fc.*``; the classifier ``fc`` is optional
and unused) at the path in ``V2M_IMAGENET_WEIGHTS``, of the architecture named
by ``V2M_IMAGENET_ARCH`` (``resnet18``, 512-d, or ``resnet50``, 2048-d, the
default). The network is :mod:`ml.features.pretrained.resnet`.

Preprocessing is torchvision's ImageNet evaluation transform: resize so that
the shorter side is 256 pixels (bilinear, antialiased), crop the central
224 x 224, scale to [0, 1], normalise by the ImageNet mean and standard
deviation. Frames are decoded at :data:`FRAME_RATE` = 2 per second, at
:data:`FRAME_SIZE` (shorter side 256 for 16:9, so the resize is a no-op there).

The 1 Hz grid (:mod:`ml.features.timegrid` rules): frame ``i`` shows time
``i / fps``; row ``t`` is the mean of the penultimate (globally pooled)
features of the frames shown during ``[t, t + 1)`` -- two at the default
rate -- and a second without frames takes the nearest frame.

CLIP's image tower (ViT-B/32, OpenAI's ``visual.*`` layout) is not
implemented yet; see the package docstring.
"""

from __future__ import annotations

import math
import os
import threading
from typing import ClassVar

import numpy as np

from ml.features.pretrained.weights import (
    PretrainedWeightsError,
    configured_path,
    file_digest,
    load_into,
    load_state_dict,
)
from ml.features.registry import FeatureInputError, VideoExtractor, register_extractor
from ml.features.timegrid import n_seconds, pool_per_second

__all__ = [
    "ARCH_VARIABLE",
    "CROP_SIZE",
    "DEFAULT_ARCH",
    "FRAME_RATE",
    "FRAME_SIZE",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "RESIZE_SHORTER_SIDE",
    "WEIGHTS_VARIABLE",
    "ImageNetVideo",
    "configured_arch",
    "imagenet_preprocess",
]

WEIGHTS_VARIABLE = "V2M_IMAGENET_WEIGHTS"
ARCH_VARIABLE = "V2M_IMAGENET_ARCH"
DEFAULT_ARCH = "resnet50"
FEATURE_DIMS = {"resnet18": 512, "resnet50": 2048}

FRAME_RATE = 2.0
FRAME_SIZE = (456, 256)  # (width, height), 16:9 with the shorter side at 256
RESIZE_SHORTER_SIDE = 256
CROP_SIZE = 224
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Frames per forward pass (~300 MB of ResNet-50 activations on CPU).
BATCH_FRAMES = 32


def weights_format(arch: str) -> str:
    return (
        f"a torchvision {arch} state_dict (conv1.weight, bn1.*, layer1.0.conv1.weight, ..., "
        f"fc.* optional), e.g. torchvision's {arch} ImageNet weights saved with torch.save; "
        f"{ARCH_VARIABLE} (resnet18 or resnet50, default {DEFAULT_ARCH}) names the architecture"
    )


def configured_arch() -> str:
    """The architecture named by ``V2M_IMAGENET_ARCH`` (``resnet50`` when unset).

    Raises
    ------
    PretrainedWeightsError
        The variable names another architecture (``reason="wrong_format"``).
    """
    arch = os.environ.get(ARCH_VARIABLE, "").strip().lower() or DEFAULT_ARCH
    if arch not in FEATURE_DIMS:
        raise PretrainedWeightsError(
            f"{ARCH_VARIABLE}={arch!r} is not supported: choose one of {sorted(FEATURE_DIMS)}",
            reason="wrong_format", variable=ARCH_VARIABLE,
        )  # fmt: skip
    return arch


def imagenet_preprocess(frames: np.ndarray):
    """``(n, h, w, 3)`` uint8 RGB frames -> ``(n, 3, 224, 224)`` float32 torch tensor,
    by torchvision's ImageNet evaluation transform (module docstring)."""
    import torch
    from torch.nn import functional

    images = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255.0
    height, width = images.shape[-2:]
    scale = RESIZE_SHORTER_SIDE / min(height, width)
    # torchvision's Resize(256) truncates the longer side: int(256 * long / short).
    size = (
        (RESIZE_SHORTER_SIDE, int(width * scale))
        if height <= width
        else (int(height * scale), RESIZE_SHORTER_SIDE)
    )
    if (height, width) != size:
        images = functional.interpolate(images, size=size, mode="bilinear", align_corners=False,
                                        antialias=True)  # fmt: skip
    # Centre crop as torchvision's CenterCrop: offsets rounded to the nearest pixel.
    top = round((size[0] - CROP_SIZE) / 2.0)
    left = round((size[1] - CROP_SIZE) / 2.0)
    images = images[:, :, top : top + CROP_SIZE, left : left + CROP_SIZE]
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return ((images - mean) / std).contiguous()


@register_extractor
class ImageNetVideo(VideoExtractor):
    """Penultimate ImageNet ResNet features (512-d or 2048-d), one row per second.

    ``dim`` depends on ``V2M_IMAGENET_ARCH``; the version is
    ``"1-<arch>-<weights digest>"``, since features from different weight files
    are not comparable.

    Raises
    ------
    PretrainedWeightsError
        On construction (so from ``get_extractor("imagenet", "video")``), when
        ``V2M_IMAGENET_WEIGHTS`` is unset, names no file, or names a file that
        is not a state_dict of the configured architecture, or when
        ``V2M_IMAGENET_ARCH`` names an unsupported architecture.
    """

    name: ClassVar[str] = "imagenet"
    version = "1"
    dim = FEATURE_DIMS[DEFAULT_ARCH]
    frame_rate = FRAME_RATE
    frame_size = FRAME_SIZE

    def __init__(self) -> None:
        import torch

        from ml.features.pretrained.resnet import resnet

        self.arch = configured_arch()
        expected = weights_format(self.arch)
        path = configured_path(WEIGHTS_VARIABLE, expected)
        state = load_state_dict(path, WEIGHTS_VARIABLE, expected)
        with torch.device("meta"):  # no random initialisation: the file provides every value
            network = resnet(self.arch)
        self.network = load_into(network, state, WEIGHTS_VARIABLE, path, expected, ignore=("fc.",))
        self.dim = FEATURE_DIMS[self.arch]
        self.version = f"1-{self.arch}-{file_digest(path)}"
        self._lock = threading.Lock()

    def embed_frames(self, frames: np.ndarray) -> np.ndarray:
        """``(n, h, w, 3)`` uint8 RGB frames -> ``(n, dim)`` float32 pooled features."""
        import torch

        outputs = []
        with self._lock, torch.inference_mode():
            for start in range(0, frames.shape[0], BATCH_FRAMES):
                batch = imagenet_preprocess(frames[start : start + BATCH_FRAMES])
                outputs.append(self.network(batch).numpy())
        return np.concatenate(outputs).astype(np.float32, copy=False)

    def extract(self, frames: np.ndarray, fps: float) -> np.ndarray:
        """Features of RGB frames sampled at ``fps``, ``(ceil(n / fps), dim)`` float32.

        Any frame size of at least 16 x 16 works (frames are resized).

        Raises
        ------
        FeatureInputError
            ``frames`` is not a non-empty ``(n, h, w, 3)`` uint8 array with
            ``h, w >= 16``, or ``fps`` is not positive and finite.
        """
        _check_frames(frames, fps)
        times = np.arange(frames.shape[0]) / fps
        return pool_per_second(self.embed_frames(frames), times, n_seconds(frames.shape[0] / fps))


def _check_frames(frames: np.ndarray, fps: float) -> None:
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
        raise FeatureInputError(
            f"expected a uint8 array of RGB frames, got {getattr(frames, 'dtype', type(frames))}"
        )
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise FeatureInputError(f"expected frames of shape (n, h, w, 3), got {frames.shape}")
    if frames.shape[0] == 0:
        raise FeatureInputError("no frames")
    if min(frames.shape[1:3]) < 16:
        raise FeatureInputError(f"frames must be at least 16 x 16 pixels, got {frames.shape[1:3]}")
    if isinstance(fps, bool) or not (isinstance(fps, (int, float, np.number)) and
                                     math.isfinite(fps) and fps > 0):  # fmt: skip
        raise FeatureInputError(f"fps must be positive and finite, got {fps!r}")
