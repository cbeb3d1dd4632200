"""Frame features at 1 Hz behind a registry (see :mod:`ml.features.registry`)."""

# The extractors a new model is trained with unless told otherwise, chosen by
# measurement (``python -m bench.bench_extractors``, bench/results/extractors.md): with
# the same clips, segments, split and recipe, MusiCNN's penultimate layer beside the
# handcrafted audio features, and TransNetV2's 1,024-unit layer for the picture, ranked
# the right track best (NW-DTW 3.8 against 4.6 with handcrafted video, three seeds).
# The video features cost a TransNetV2 pass per training video (a GPU's work; about
# 100 s of CPU per minute of video), and nothing on a query, whose shot detection
# computes them.
DEFAULT_AUDIO_EXTRACTOR = "handcrafted+musicnn"
DEFAULT_VIDEO_EXTRACTOR = "transnet"

from ml.features.registry import (  # noqa: E402  (the defaults above are read by registry users)
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
