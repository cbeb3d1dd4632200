"""A tag-based ground-truth similarity S between music tracks (docs/method.md §4).

S(t, u) is a weighted Jaccard index between the two tracks' tag sets:

    S(t, u) = sum_g w_g min(a_tg, a_ug) / sum_g w_g max(a_tg, a_ug)

where ``a_tg`` in [0, 1] is how strongly track t carries tag g and ``w_g > 0`` is the
weight of tag g (rare, specific tags can count more than common ones, see
:func:`idf_tag_weights`). A track's tags are a set (every tag has strength 1) or a
mapping from tag to strength in (0, 1] (e.g. "piano": 0.4 for a track with piano in
40% of its length). *Tag expansion* lets similar tags
imply each other: with ``{"rock": {"hard rock": 0.5}}`` a track tagged "rock" also
carries "hard rock" with strength 0.5, so two tracks that share no literal tag can still
be similar. Expansion is applied once (it is not transitive), so the user's table says
exactly what implies what.

S is symmetric, in [0, 1], and S(t, t) = 1 (by convention also for tracks without
tags, whose similarity to every other track is 0). A catalog owner who has a better
notion of similarity passes their own matrix through :func:`validate_similarity` and
uses it wherever S is expected.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import numpy as np

__all__ = [
    "SimilarityError",
    "expand_tags",
    "idf_tag_weights",
    "load_similarity",
    "tag_memberships",
    "tag_similarity",
    "validate_similarity",
    "weighted_jaccard",
]

TagExpansion = Mapping[str, Mapping[str, float]]
TrackTags = Collection[str] | Mapping[str, float]


class SimilarityError(ValueError):
    """Raised for malformed tags, tag weights, expansions or similarity matrices."""


def _own_strengths(tags: TrackTags) -> dict[str, float]:
    if isinstance(tags, (str, bytes)):
        raise SimilarityError("a track's tags must be a collection of strings, not a string")
    if isinstance(tags, Mapping):
        strengths = {str(tag): float(value) for tag, value in tags.items()}
        for tag, value in strengths.items():
            if not 0.0 < value <= 1.0:
                raise SimilarityError(f"tag strength of {tag!r} must be in (0, 1], got {value}")
        return strengths
    return {str(tag): 1.0 for tag in tags}


def expand_tags(tags: TrackTags, expansion: TagExpansion | None = None) -> dict[str, float]:
    """Tag strengths of one track: its own tags, plus the implied tags.

    A tag of strength s implying another with strength e gives the implied tag s * e;
    an implied tag takes the strongest implication and never lowers a tag the track
    carries itself.

    >>> expand_tags({"rock"}, {"rock": {"hard rock": 0.5}})
    {'rock': 1.0, 'hard rock': 0.5}
    """
    own = _own_strengths(tags)
    strengths = dict(own)
    for tag, tag_strength in own.items():
        for implied, strength in (expansion or {}).get(tag, {}).items():
            if not 0.0 < strength <= 1.0:
                raise SimilarityError(
                    f"expansion strength {tag!r} -> {implied!r} must be in (0, 1], got {strength}"
                )
            strengths[implied] = max(strengths.get(implied, 0.0), tag_strength * float(strength))
    return strengths


def tag_memberships(
    track_tags: Sequence[TrackTags],
    expansion: TagExpansion | None = None,
    vocabulary: Sequence[str] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """The (n_tracks, n_tags) matrix of tag strengths, and its column names.

    The vocabulary defaults to every tag seen (after expansion), sorted. Tags outside a
    given vocabulary are ignored.
    """
    expanded = [expand_tags(tags, expansion) for tags in track_tags]
    if vocabulary is None:
        vocabulary = sorted({tag for strengths in expanded for tag in strengths})
    column = {tag: j for j, tag in enumerate(vocabulary)}
    memberships = np.zeros((len(expanded), len(vocabulary)), dtype=np.float64)
    for i, strengths in enumerate(expanded):
        for tag, strength in strengths.items():
            if tag in column:
                memberships[i, column[tag]] = strength
    return memberships, list(vocabulary)


def idf_tag_weights(track_tags: Sequence[TrackTags]) -> dict[str, float]:
    """Inverse-document-frequency weights ``log(1 + N / df_g)``: a tag carried by few
    tracks says more about them than one carried by all (always > 0)."""
    n_tracks = len(track_tags)
    counts: dict[str, int] = {}
    for tags in track_tags:
        for tag in set(tags):
            counts[tag] = counts.get(tag, 0) + 1
    return {tag: float(np.log1p(n_tracks / df)) for tag, df in counts.items()}


def weighted_jaccard(a: np.ndarray, b: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Weighted Jaccard index of two non-negative strength vectors (0 if both are empty)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    w = np.ones_like(a) if weights is None else np.asarray(weights, dtype=np.float64)
    if a.shape != b.shape or a.shape != w.shape or a.ndim != 1:
        raise SimilarityError(f"shapes differ: {a.shape}, {b.shape}, {w.shape}")
    union = float(w @ np.maximum(a, b))
    return float(w @ np.minimum(a, b)) / union if union > 0 else 0.0


def tag_similarity(
    track_tags: Sequence[TrackTags],
    tag_weights: Mapping[str, float] | None = None,
    expansion: TagExpansion | None = None,
) -> np.ndarray:
    """The (n_tracks, n_tracks) weighted-Jaccard similarity S of a list of tag sets.

    Parameters
    ----------
    track_tags : one collection of tag strings, or one ``{tag: strength}`` mapping, per
        track.
    tag_weights : weight per tag (> 0); tags missing from it weigh 1. Pass
        :func:`idf_tag_weights` to favour specific tags.
    expansion : ``{tag: {implied_tag: strength in (0, 1]}}``.

    Raises
    ------
    SimilarityError
        If a weight is not positive or an expansion strength is outside (0, 1].
    """
    if isinstance(track_tags, (str, bytes)):
        raise SimilarityError("track_tags must be a sequence of tag collections, not a string")
    memberships, vocabulary = tag_memberships(track_tags, expansion)
    weights = np.array([(tag_weights or {}).get(tag, 1.0) for tag in vocabulary], dtype=np.float64)
    if (weights <= 0).any() or not np.isfinite(weights).all():
        raise SimilarityError("tag weights must be positive and finite")
    n = len(memberships)
    similarity = np.zeros((n, n), dtype=np.float64)
    # Row by row keeps memory at O(n * n_tags) for catalogs of thousands of tracks.
    for i in range(n):
        intersection = np.minimum(memberships[i], memberships) @ weights
        union = np.maximum(memberships[i], memberships) @ weights
        similarity[i] = np.divide(intersection, union, out=np.zeros(n), where=union > 0)
    np.fill_diagonal(similarity, 1.0)
    return similarity


def validate_similarity(similarity: np.ndarray, n_tracks: int | None = None) -> np.ndarray:
    """Check a user-supplied S and return it as float64.

    S must be square (``n_tracks`` x ``n_tracks`` when given), finite and non-negative
    (distance-based mining samples negatives with probability proportional to S). It
    need not be symmetric: ranked-list mining reads one row per anchor.

    Raises
    ------
    SimilarityError
        If any of these conditions fails.
    """
    similarity = np.asarray(similarity, dtype=np.float64)
    if similarity.ndim != 2 or similarity.shape[0] != similarity.shape[1]:
        raise SimilarityError(f"similarity must be a square matrix, got {similarity.shape}")
    if n_tracks is not None and similarity.shape[0] != n_tracks:
        raise SimilarityError(
            f"similarity is {similarity.shape[0]} x {similarity.shape[0]}, expected {n_tracks}"
        )
    if not np.isfinite(similarity).all():
        raise SimilarityError("similarity holds NaN or infinite values")
    if (similarity < 0).any():
        raise SimilarityError("similarity must be non-negative")
    return similarity


def load_similarity(path: str | Path, n_tracks: int | None = None) -> np.ndarray:
    """Load a user's own S from a ``.npy`` file (or a comma-separated ``.csv``) and
    validate it; row and column i refer to the i-th track of the dataset."""
    path = Path(path)
    if path.suffix == ".npy":
        matrix = np.load(path, allow_pickle=False)
    elif path.suffix == ".csv":
        matrix = np.loadtxt(path, delimiter=",", ndmin=2)
    else:
        raise SimilarityError(f"unsupported similarity file {path.name!r}; use .npy or .csv")
    return validate_similarity(matrix, n_tracks)
