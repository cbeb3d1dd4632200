"""Frame features at 1 Hz behind a registry (see :mod:`ml.features.registry`)."""

# The extractors a new model is trained with unless told otherwise, chosen on the served
# path (``python -m bench.bench_served``, docs/experiments.md "The features"), with 25
# and 100 training clips: the handcrafted video features ranked the right track better
# than TransNetV2's 1,024-unit layer (``transnet``, the earlier default, chosen on the
# protocol path with 168 synthetic clips) on the recorded world and level on the
# synthetic one, and leave a query's shots to the cascade instead of the full network
# pass; the handcrafted audio features alone ranked better than with MusiCNN's beside
# them on the recorded world and level on the synthetic one. MusiCNN still tags every
# catalog track at ingestion, whatever the model reads (``ml.pipeline.track.TAGGER``).
DEFAULT_AUDIO_EXTRACTOR = "handcrafted"
DEFAULT_VIDEO_EXTRACTOR = "handcrafted"

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
