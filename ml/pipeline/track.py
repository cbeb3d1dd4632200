"""The one path from a recording to its segment vectors: ingestion and evaluation.

A catalog track (ingestion) and a test clip's soundtrack (evaluation of the served
path) both go through :func:`analyse_track_file`: decoded once at the analysis rate,
cut by the model's music segmenter (MSAF), its downbeats found (madmom), its 1 Hz
frame features extracted, and the features averaged per segment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml.features.registry import AudioExtractor, get_extractor
from ml.features.tags import TagsError, TrackTags
from ml.media.decode import load_audio
from ml.pipeline.analysis import (
    DECODE_SAMPLE_RATE,
    TrackAnalysis,
    analyse_track,
    analysis_rate_features,
    analysis_rate_features_and_tags,
    music_boundaries,
    to_analysis_rate,
)
from ml.segments import segment_vectors

#: The extractor whose taggram gives every catalog track its automatic tags.
TAGGER = "musicnn"

__all__ = [
    "TAGGER",
    "AnalysedTrack",
    "analyse_track_file",
    "decode_soundtrack",
    "soundtrack_boundaries",
    "soundtrack_frame_features",
    "soundtrack_tags",
    "tagger_source",
    "tagger_tag_names",
]


def decode_soundtrack(
    path,
    *,
    min_duration_s: float = 1.0,
    max_duration_s: float | None = None,
    timeout_s: float | None = None,
) -> np.ndarray:
    """A file's soundtrack, mono float32 at :data:`DECODE_SAMPLE_RATE` (the one rate every
    path decodes at)."""
    return load_audio(
        path,
        sr=DECODE_SAMPLE_RATE,
        min_duration_s=min_duration_s,
        max_duration_s=max_duration_s,
        timeout_s=timeout_s,
    )


def soundtrack_frame_features(y: np.ndarray, extractor: AudioExtractor) -> np.ndarray:
    """``(T, D)`` float32 frame features at 1 Hz of a signal from :func:`decode_soundtrack`,
    computed exactly as ingestion computes a catalog track's."""
    return np.asarray(analysis_rate_features(to_analysis_rate(y), extractor), dtype=np.float32)


def tagger_tag_names(tagger: str = TAGGER) -> tuple[str, ...]:
    """The vocabulary of the tags :func:`soundtrack_tags` gives."""
    return tuple(_tagger(tagger).tag_names)


def tagger_source(tagger: str = TAGGER) -> str:
    """What the tags :func:`soundtrack_tags` gives come from (``TrackTags.source``): a
    track whose stored tags came from elsewhere is tagged again."""
    return _tagger(tagger).tags_source


def _tagger(tagger: str):
    extractor = get_extractor(tagger, "audio")
    if not hasattr(extractor, "tag_names"):
        raise TagsError(f"the audio extractor {tagger!r} gives no tags")
    return extractor


def soundtrack_tags(y: np.ndarray, tagger: str = TAGGER) -> TrackTags:
    """The automatic tags of a signal from :func:`decode_soundtrack`, computed exactly as
    ingestion computes every catalog track's (:func:`analyse_track_file` with ``tagger``).

    Raises
    ------
    TagsError
        ``tagger`` is not a tagging extractor.
    """
    _, tags = analysis_rate_features_and_tags(to_analysis_rate(y), get_extractor(tagger, "audio"))
    if tags is None:
        raise TagsError(f"the audio extractor {tagger!r} gives no tags")
    return tags


def soundtrack_boundaries(y: np.ndarray, music_segmenter: str) -> np.ndarray:
    """``(K + 1,)`` music-structure boundaries in seconds of a signal from
    :func:`decode_soundtrack`, exactly as ingestion cuts a catalog track."""
    return music_boundaries(y, DECODE_SAMPLE_RATE, (music_segmenter,))[music_segmenter]


@dataclass(frozen=True)
class AnalysedTrack:
    """A recording analysed for one model's music branch.

    Attributes
    ----------
    analysis : TrackAnalysis
        Structure, downbeats, tempo and frame features (:mod:`ml.pipeline.analysis`).
    signal : np.ndarray, shape (n,)
        The decoded mono signal at :data:`DECODE_SAMPLE_RATE` (for models that read audio).
    features : np.ndarray, shape (T, D)
        float32 frame features at 1 Hz of the model's audio extractor.
    boundaries_s : np.ndarray, shape (K + 1,)
        The music segmenter's boundaries, 0 and the duration included.
    """

    analysis: TrackAnalysis
    signal: np.ndarray
    features: np.ndarray
    boundaries_s: np.ndarray

    @property
    def segment_vectors(self) -> np.ndarray:
        """``(K, D)`` float32: the mean frame feature of each music segment."""
        return segment_vectors(self.features, self.boundaries_s)

    @property
    def downbeats_s(self) -> np.ndarray:
        return np.asarray(self.analysis.beats.downbeats_s, dtype=np.float64)


def analyse_track_file(
    path,
    music_segmenter: str,
    audio_extractor: str,
    *,
    tagger: str | None = None,
    max_duration_s: float | None = None,
    timeout_s: float | None = None,
) -> AnalysedTrack:
    """Decode, segment, find downbeats and extract features of one recording (an audio
    file, or a video whose soundtrack is the track); with a ``tagger`` (ingestion passes
    :data:`TAGGER`), its automatic tags too, from the audio extractor's own pass when it
    includes the tagger.

    Raises
    ------
    ml.media.errors.MediaError
        The file cannot be used (a subclass says why).
    """
    y = decode_soundtrack(path, max_duration_s=max_duration_s, timeout_s=timeout_s)
    analysis = analyse_track(
        (y, DECODE_SAMPLE_RATE),
        segmenter=music_segmenter,
        audio_extractors=[audio_extractor],
        tagger=tagger,
    )
    key = get_extractor(audio_extractor, "audio").spec.key
    return AnalysedTrack(
        analysis,
        y,
        np.asarray(analysis.features[key], dtype=np.float32),
        np.asarray(analysis.boundaries_s[music_segmenter], dtype=np.float64),
    )
