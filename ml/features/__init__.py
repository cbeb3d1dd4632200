"""Frame features at 1 Hz behind a registry (see :mod:`ml.features.registry`)."""

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
    "AudioExtractor",
    "ExtractorSpec",
    "FeatureInputError",
    "UnknownExtractorError",
    "VideoExtractor",
    "available_extractors",
    "get_extractor",
    "register_extractor",
]
