"""Frame features at 1 Hz behind a registry (see :mod:`ml.features.registry`)."""

# The extractors a new model is trained with unless told otherwise, chosen by
# measurement: with the same clips, segments, split and recipe, MusiCNN's penultimate
# layer beside the handcrafted audio features ranked the right track best under every
# cost (``python -m bench.bench_extractors``, results in bench/results/extractors.md).
DEFAULT_AUDIO_EXTRACTOR = "handcrafted+musicnn"
DEFAULT_VIDEO_EXTRACTOR = "handcrafted"

from ml.features.registry import (
    AudioExtractor,
    ExtractorSpec,
    FeatureInputError,
    UnknownExtractorError,
    VideoExtractor,
    available_extractors,
    get_extractor,
    register_extractor,
)

__all__ = [
    "DEFAULT_AUDIO_EXTRACTOR",
    "DEFAULT_VIDEO_EXTRACTOR",
    "AudioExtractor",
    "ExtractorSpec",
    "FeatureInputError",
    "UnknownExtractorError",
    "VideoExtractor",
    "available_extractors",
    "get_extractor",
    "register_extractor",
]
