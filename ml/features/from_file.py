"""Frame features of a media file in one call: decode at the extractor's rate, extract.

The decoding parameters come from the extractor itself (its ``sample_rate``, or
its ``frame_rate`` and ``frame_size``), so callers cannot pair an extractor with
frames it was not designed for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ml.features.registry import AudioExtractor, ExtractorSpec, Modality, get_extractor
from ml.media.decode import load_audio, load_video_frames

__all__ = ["FileFeatures", "extract_file"]


@dataclass(frozen=True)
class FileFeatures:
    """1 Hz features of one file and the identity of their extractor."""

    features: np.ndarray  # (ceil(duration_s), spec.dim) float32
    spec: ExtractorSpec
    duration_s: float  # of the decoded stream


def extract_file(
    path: str | os.PathLike[str],
    name: str,
    modality: Modality,
    *,
    max_duration_s: float | None = None,
    timeout_s: float | None = None,
) -> FileFeatures:
    """Decode ``path`` for the extractor ``modality``/``name`` and extract its features.

    Raises
    ------
    UnknownExtractorError
        No such extractor.
    MediaError
        The file cannot be decoded (see :mod:`ml.media.errors`); audio must be
        at least 1 s long and not silent.
    """
    extractor = get_extractor(name, modality)
    if isinstance(extractor, AudioExtractor):
        sr = extractor.sample_rate
        y = load_audio(path, sr, max_duration_s=max_duration_s, timeout_s=timeout_s)
        return FileFeatures(extractor.extract(y, sr), extractor.spec, y.size / sr)
    rate = extractor.frame_rate
    frames = load_video_frames(path, rate, *extractor.frame_size,
                               max_duration_s=max_duration_s, timeout_s=timeout_s)  # fmt: skip
    return FileFeatures(extractor.extract(frames, rate), extractor.spec, frames.shape[0] / rate)
