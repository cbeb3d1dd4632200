"""Automatic tags of a track: a tagger's taggram averaged over time, and what is read
from it (the top tags, a vocals score).

A tagging extractor (MusiCNN, :mod:`ml.features.musicnn.extractor`) predicts one
confidence per tag of its vocabulary for each second; the track-level tags are the
mean over time of those rows (:func:`track_tags`), kept with the tag names and the
tagger's identity (:class:`TrackTags`).

The vocals score (:func:`vocal_score`) compares the strongest tag that says there is a
voice with the strongest tag that says there is none: ``v / (v + n)`` in ``[0, 1]``
(0.5 when both are equally strong). The tag lists cover both MusiCNN vocabularies
(MSD: "female vocalists", "male vocalists", "female vocalist" against
"instrumental"; MTT: "vocal", "singing", "female"... against "no vocals", "no vocal",
"no voice"). :data:`VOCALS_THRESHOLD` is the score above which a track counts as
vocal; docs/benchmarks.md measures it on generated tracks with and without a voice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "NO_VOCAL_TAGS",
    "TAG_SYNONYMS",
    "VOCALS_THRESHOLD",
    "VOCAL_TAGS",
    "TagsError",
    "TrackTags",
    "merge_tags",
    "normalize_tag",
    "tags_for_words",
    "track_tags",
    "vocal_score",
]

#: Tags that say a voice is present (both MusiCNN vocabularies), normalised.
VOCAL_TAGS = frozenset({
    "female vocalists", "male vocalists", "female vocalist",  # MSD
    "vocal", "vocals", "singing", "female", "male", "woman", "man", "voice", "choir",
    "choral", "opera", "male vocal", "female vocal", "male voice", "female voice",  # MTT
})  # fmt: skip
#: Tags that say there is no voice, normalised.
NO_VOCAL_TAGS = frozenset({"instrumental", "no vocals", "no vocal", "no voice"})
#: A track whose :func:`vocal_score` is at least this counts as vocal. Fitted by
#: ``python -m bench.bench_vocals --fit`` at the equal-error point of 20 generated
#: instrumental songs against 20 others under an espeak-ng voice at 0 and -10 dB, tagged
#: with both MusiCNN vocabularies (0.409);
#: measured on a second set of other songs and voices in docs/benchmarks.md (the vocals
#: tag). Synthetic voices over synthetic songs: a catalog of real songs needs its own.
VOCALS_THRESHOLD = 0.409

#: Words people use to say what a track should sound like, for the automatic tags
#: (:data:`ml.features.musicnn.extractor.TAG_NAMES`: MusiCNN's MSD and MTT vocabularies)
#: nearest to them; a word stands for the mean confidence of its tags. A tag's own name
#: (piano, violin, strings...) needs no entry.
TAG_SYNONYMS: dict[str, tuple[str, ...]] = {
    "calm": ("mellow", "chill", "easy listening"),
    "relaxed": ("mellow", "chill", "chillout"),
    "peaceful": ("mellow", "ambient"),
    "gentle": ("mellow", "acoustic"),
    "energetic": ("party", "dance", "hard rock"),
    "upbeat": ("happy", "party", "catchy"),
    "uplifting": ("happy", "beautiful"),
    "cheerful": ("happy",),
    "joyful": ("happy",),
    "melancholic": ("sad",),
    "emotional": ("sad", "beautiful"),
    "romantic": ("sexy", "soul", "rnb"),
    "aggressive": ("metal", "heavy metal", "hard rock", "punk"),
    "heavy": ("metal", "heavy metal", "hard rock"),
    "atmospheric": ("ambient", "chillout"),
    "retro": ("oldies", "60s", "70s"),
    "vintage": ("oldies", "60s", "70s"),
    "hip hop": ("hip-hop",),
    "rap": ("hip-hop",),
    "r&b": ("rnb",),
    "edm": ("electronic", "electro", "house", "dance"),
    "orchestral": ("classical", "strings", "violin", "cello"),
    "string": ("strings", "violin", "cello"),
    "percussion": ("drums", "beats"),
    "synthesizer": ("synth", "electronic"),
    "acoustic guitar": ("guitar", "acoustic"),
}


class TagsError(ValueError):
    """A taggram or tag list that cannot be used (shapes, names, values)."""


def normalize_tag(name: str) -> str:
    """The comparison key of a tag name: trimmed, single-spaced, case-folded."""
    return " ".join(str(name).split()).casefold()


@dataclass(frozen=True)
class TrackTags:
    """A track's automatic tags.

    Attributes
    ----------
    names : tuple of str
        The tagger's vocabulary, as the model names its tags.
    confidences : np.ndarray, shape (n_tags,)
        float32 in ``[0, 1]``: each tag's mean confidence over the track's seconds.
    source : str
        The tagger's identity, e.g. ``"audio/musicnn@msd-1"``.
    """

    names: tuple[str, ...]
    confidences: np.ndarray
    source: str

    def __post_init__(self) -> None:
        values = np.asarray(self.confidences, dtype=np.float32)
        if values.ndim != 1 or len(values) != len(self.names) or not len(values):
            raise TagsError(f"{len(self.names)} tag names for confidences of shape {values.shape}")
        if len({normalize_tag(n) for n in self.names}) != len(self.names):
            raise TagsError("tag names must be distinct")
        if not np.all(np.isfinite(values)) or values.min() < 0 or values.max() > 1:
            raise TagsError("tag confidences must be finite and within [0, 1]")
        object.__setattr__(self, "confidences", values)

    def as_dict(self) -> dict[str, float]:
        """Tag name -> confidence, for every tag."""
        return {name: float(c) for name, c in zip(self.names, self.confidences)}

    def top(self, n: int = 10) -> dict[str, float]:
        """The ``n`` most confident tags, best first, confidences rounded to 4 decimals."""
        order = np.argsort(-self.confidences, kind="stable")[: max(int(n), 0)]
        return {self.names[i]: round(float(self.confidences[i]), 4) for i in order}

    @property
    def vocal_score(self) -> float:
        """:func:`vocal_score` of this track (NaN when its vocabulary has no vocal tags)."""
        return float(vocal_score(self.names, self.confidences[None, :])[0])


def track_tags(taggram: np.ndarray, names: Sequence[str], source: str) -> TrackTags:
    """The track-level tags of a ``(T, n_tags)`` taggram: the mean over its ``T`` rows.

    Raises
    ------
    TagsError
        ``taggram`` is not a non-empty 2-D array with one column per name.
    """
    taggram = np.asarray(taggram, dtype=np.float64)
    if taggram.ndim != 2 or taggram.shape[0] == 0 or taggram.shape[1] != len(names):
        raise TagsError(f"expected a (T >= 1, {len(names)}) taggram, got shape {taggram.shape}")
    return TrackTags(tuple(names), taggram.mean(axis=0).astype(np.float32), source)


def merge_tags(first: TrackTags, second: TrackTags) -> TrackTags:
    """One track's tags from two taggers: ``first``'s, then the tags of ``second`` that
    ``first`` does not name (a tag both name keeps ``first``'s confidence); the source
    is ``first``'s."""
    known = {normalize_tag(n) for n in first.names}
    extra = [i for i, n in enumerate(second.names) if normalize_tag(n) not in known]
    return TrackTags(
        first.names + tuple(second.names[i] for i in extra),
        np.concatenate([first.confidences, second.confidences[extra]]),
        first.source,
    )


def vocal_score(names: Sequence[str], confidences: np.ndarray) -> np.ndarray:
    """``(n,)`` vocals score of ``(n, n_tags)`` tag confidences over the vocabulary ``names``.

    ``v / (v + u)`` with ``v`` the largest confidence among :data:`VOCAL_TAGS` and ``u``
    among :data:`NO_VOCAL_TAGS`; 0.5 when both are 0, NaN in a row holding NaN (a track
    without tags) and everywhere when ``names`` holds neither kind of tag.
    """
    confidences = np.atleast_2d(np.asarray(confidences, dtype=np.float64))
    if confidences.shape[1] != len(names):
        raise TagsError(f"{len(names)} tag names for confidences of shape {confidences.shape}")
    keys = [normalize_tag(n) for n in names]
    vocal = [i for i, k in enumerate(keys) if k in VOCAL_TAGS]
    unvoiced = [i for i, k in enumerate(keys) if k in NO_VOCAL_TAGS]
    if not vocal or not unvoiced:
        return np.full(len(confidences), np.nan)
    v = confidences[:, vocal].max(axis=1)
    u = confidences[:, unvoiced].max(axis=1)
    total = v + u
    score = np.full(len(confidences), 0.5)
    positive = total > 0  # False for NaN
    score[positive] = v[positive] / total[positive]
    score[np.isnan(total)] = np.nan
    return score


def tags_for_words(words: Sequence[str], vocabulary: Sequence[str]) -> tuple[str, ...]:
    """The tags of ``vocabulary`` that ``words`` name, normalised, in order, without
    repeats: a tag as itself, a word of :data:`TAG_SYNONYMS` as its tags.

    Raises
    ------
    TagsError
        A word that is neither a tag of ``vocabulary`` nor a synonym of its tags; the
        message lists both.
    """
    known = {normalize_tag(n) for n in vocabulary}
    synonyms = {
        word: tuple(t for t in tags if t in known)
        for word, tags in TAG_SYNONYMS.items()
        if any(t in known for t in tags)
    }
    found, unknown = [], []
    for word in (normalize_tag(w) for w in words):
        if word in known:
            found.append(word)
        elif word in synonyms:
            found.extend(synonyms[word])
        elif word:
            unknown.append(word)
    if unknown:
        raise TagsError(
            f"{', '.join(map(repr, unknown))} not among the automatic tags "
            f"({', '.join(sorted(known))}) nor the words for them "
            f"({', '.join(sorted(synonyms))})"
        )
    return tuple(dict.fromkeys(found))
