"""TransNetV2's learned frame representations as 1 Hz video features.

TransNetV2 already runs on every query video to find its shots. Two of its layers
are learned descriptions of each frame that come with that pass at no extra cost:

* ``transnet``: the 1,024-unit ReLU layer before the transition classifier. It sees
  the frame's convolutional features, its colour histogram and its similarity to
  the frames around it (a +-50-frame window), so it describes both the picture and
  its temporal context.
* ``transnet_similarity``: the 128-d L2-normalised projection of the frame's
  pooled convolutional features that TransNetV2 compares between frames; a
  purely visual, context-free description.

Both are averaged over the frames of each second (the grid of
:mod:`ml.features.timegrid`). In the query pipeline, call
:func:`ml.media.shots.analyze_shots` with ``return_features=True`` and pool its
result with :func:`transnet_features`, so the network runs once for shots and
features; the extractor classes below serve the registry when only features are
wanted (catalog videos, training corpora) and run the network themselves.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ml.features.registry import FeatureInputError, VideoExtractor, register_extractor
from ml.features.timegrid import n_seconds, pool_per_second
from ml.media.shot_network import EMBEDDING_DIM, FRAME_HEIGHT, FRAME_WIDTH, SIMILARITY_DIM
from ml.media.shots import ShotDetector, ShotResult

__all__ = ["TransnetVideo", "TransnetSimilarityVideo", "transnet_features"]


def transnet_features(result: ShotResult, fps: float, layer: str = "embeddings") -> np.ndarray:
    """Pool a :class:`ShotResult`'s per-frame features to one row per second.

    Parameters
    ----------
    result : ShotResult
        From ``ShotDetector.detect(frames, return_features=True)``.
    fps : float
        Frame rate of the frames the result was computed on.
    layer : str
        ``"embeddings"`` (1024-d) or ``"similarity_embeddings"`` (128-d).

    Returns
    -------
    np.ndarray
        ``(ceil(n_frames / fps), dim)`` float32, the mean of the frames of each second.

    Raises
    ------
    FeatureInputError
        The result holds no features (detected without ``return_features``), or
        ``fps`` is not positive.
    ValueError
        Unknown ``layer``.
    """
    if layer not in ("embeddings", "similarity_embeddings"):
        raise ValueError(f"layer must be 'embeddings' or 'similarity_embeddings', got {layer!r}")
    per_frame = getattr(result, layer)
    if per_frame is None:
        raise FeatureInputError(
            "the shot result holds no features; detect with return_features=True"
        )
    if not (np.isfinite(fps) and fps > 0):
        raise FeatureInputError(f"fps must be positive, got {fps!r}")
    times = np.arange(len(per_frame)) / fps
    return pool_per_second(per_frame, times, n_seconds(len(per_frame) / fps))


class _TransnetBase(VideoExtractor):
    """Runs TransNetV2 on 48x27 frames at the native rate and pools one layer."""

    version = "1"
    frame_rate: ClassVar[float | None] = None  # native rate: what TransNetV2 was trained on
    frame_size = (FRAME_WIDTH, FRAME_HEIGHT)
    _layer: ClassVar[str]

    def __init__(self, device: str = "auto") -> None:
        self._device = device
        self._detector: ShotDetector | None = None

    def extract(self, frames: np.ndarray, fps: float) -> np.ndarray:
        """``(ceil(n / fps), dim)`` float32 features of uint8 frames ``(n, 27, 48, 3)``.

        Raises
        ------
        FeatureInputError
            Frames of another dtype or shape, none at all, or a non-positive ``fps``.
        """
        if (
            not isinstance(frames, np.ndarray)
            or frames.dtype != np.uint8
            or frames.ndim != 4
            or frames.shape[1:] != (FRAME_HEIGHT, FRAME_WIDTH, 3)
            or len(frames) == 0
        ):
            raise FeatureInputError(
                f"{self.name} needs uint8 frames of shape (n, {FRAME_HEIGHT}, {FRAME_WIDTH}, 3), "
                f"got {getattr(frames, 'dtype', type(frames).__name__)} "
                f"{getattr(frames, 'shape', '')}"
            )
        if not (np.isfinite(fps) and fps > 0):
            raise FeatureInputError(f"fps must be positive, got {fps!r}")
        if self._detector is None:
            self._detector = ShotDetector(device=self._device)
        result = self._detector.detect(frames, return_features=True)
        return transnet_features(result, fps, self._layer)


@register_extractor
class TransnetVideo(_TransnetBase):
    """TransNetV2's 1,024-unit layer before the classifier, mean per second."""

    name = "transnet"
    dim = EMBEDDING_DIM
    _layer = "embeddings"


@register_extractor
class TransnetSimilarityVideo(_TransnetBase):
    """TransNetV2's 128-d frame-similarity projection, mean per second."""

    name = "transnet_similarity"
    dim = SIMILARITY_DIM
    _layer = "similarity_embeddings"
