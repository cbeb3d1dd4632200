"""A query's options from plain values: what ``GET``/``POST`` query parameters and the
command line's flags both become (the HTTP layer adds its bounds and status codes)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from app.index.metadata import AUTO_TAG_MIN, SearchFilters, normalize_label
from app.services.costs import DEFAULT_METHOD, METHODS
from app.services.recommend import QueryError, QueryOptions
from ml.features.tags import TagsError, tags_for_words


def parse_seconds(text: str | Sequence[float] | None, name: str) -> tuple[float, ...] | None:
    """Seconds from ``"2.5,7,12.25"`` (``;`` also separates) or a sequence of numbers;
    None when empty. Raises :class:`QueryError` on anything else, negative or not finite."""
    if text is None:
        return None
    if isinstance(text, str):
        if not text.strip():
            return None
        try:
            values = tuple(
                float(part) for part in text.replace(";", ",").split(",") if part.strip()
            )
        except ValueError:
            raise QueryError(
                f"{name}: expected comma-separated seconds, e.g. 2.5,7,12.25"
            ) from None
    else:
        values = tuple(float(v) for v in text)
        if not values:
            return None
    if not all(math.isfinite(v) and v >= 0 for v in values):
        raise QueryError(f"{name}: seconds must be finite and >= 0")
    return values


def parse_auto_tags(values: str | Iterable[str] | None, name: str) -> tuple[str, ...]:
    """Automatic tag names from ``"mellow,acoustic"`` or repeated values, normalised, in
    order, without repeats. Raises :class:`QueryError` for a name that is not a tag of
    the tagger (:func:`auto_tag_vocabulary`), listing the known ones."""
    if values is None:
        return ()
    parts = [values] if isinstance(values, str) else list(values)
    names = [normalize_label(p) for part in parts for p in str(part).split(",")]
    names = list(dict.fromkeys(n for n in names if n))
    known = auto_tag_vocabulary()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise QueryError(
            f"{name}: {', '.join(map(repr, unknown))} not among the automatic tags "
            f"({', '.join(sorted(known))})"
        )
    return tuple(names)


def parse_preferred_tags(values: str | Iterable[str] | None) -> tuple[str, ...]:
    """The automatic tags ``prefer`` steers by, from ``"calm,acoustic"`` or repeated
    values: tags of the tagger, or words people use for them
    (:data:`ml.features.tags.TAG_SYNONYMS`, each replaced by its tags). Raises
    :class:`QueryError` for any other word, listing the tags and the words."""
    if values is None:
        return ()
    parts = [values] if isinstance(values, str) else list(values)
    words = [p for part in parts for p in str(part).split(",")]
    try:
        return tags_for_words(words, sorted(auto_tag_vocabulary()))
    except TagsError as exc:
        raise QueryError(f"prefer: {exc}") from None


def auto_tag_vocabulary() -> frozenset[str]:
    """The normalised names of the tags the catalog's tagger gives (MusiCNN's)."""
    from ml.pipeline.track import tagger_tag_names

    return frozenset(normalize_label(n) for n in tagger_tag_names())


#: Hubness corrections a query may ask for: CSLS against the model's reference videos
#: (the default; a model exported without them ranks by the raw cost), or none.
HUBNESS: tuple[str, ...] = ("csls", "none")


def query_options(
    *,
    k: int = 10,
    method: str = DEFAULT_METHOD,
    shortlist: int = 1000,
    licenses: Iterable[str] = (),
    exclude_artists: Iterable[str] = (),
    tags: Iterable[str] = (),
    any_tags: Iterable[str] = (),
    min_bpm: float | None = None,
    max_bpm: float | None = None,
    min_duration_s: float | None = None,
    boundaries: str | Sequence[float] | None = None,
    min_segment_s: float | None = None,
    hubness: str = "csls",
    sync: bool = True,
    vocals: bool | None = None,
    auto_tags: str | Iterable[str] | None = None,
    auto_tag_min: float = AUTO_TAG_MIN,
    prefer: str | Iterable[str] | None = None,
) -> QueryOptions:
    """The :class:`QueryOptions` of a query; :class:`QueryError` when they contradict
    themselves (an unknown cost, ``min_bpm > max_bpm``, unreadable cut points, an
    unknown automatic tag, ``auto_tag_min`` outside [0, 1])."""
    if method not in METHODS:
        raise QueryError(f"method: {method!r} is not one of {', '.join(METHODS)}")
    if hubness not in HUBNESS:
        raise QueryError(f"hubness: {hubness!r} is not one of {', '.join(HUBNESS)}")
    if k < 1 or shortlist < 1:
        raise QueryError(f"k ({k}) and shortlist ({shortlist}) must be >= 1")
    if min_bpm is not None and max_bpm is not None and min_bpm > max_bpm:
        raise QueryError(f"min_bpm ({min_bpm}) > max_bpm ({max_bpm})")
    if not 0.0 <= auto_tag_min <= 1.0:
        raise QueryError(f"auto_tag_min ({auto_tag_min}) must be within [0, 1]")
    licenses = frozenset(licenses)
    filters = SearchFilters(
        licenses=licenses or None,
        exclude_artists=frozenset(exclude_artists),
        tags_all=frozenset(tags),
        tags_any=frozenset(any_tags),
        bpm_min=min_bpm,
        bpm_max=max_bpm,
        min_duration_s=min_duration_s,
        vocals=vocals,
        auto_tags=frozenset(parse_auto_tags(auto_tags, "auto_tag")),
        auto_tag_min=auto_tag_min,
    )
    return QueryOptions(
        k=k,
        method=method,
        shortlist=max(shortlist, k),
        filters=filters,
        boundaries_s=parse_seconds(boundaries, "boundaries"),
        min_segment_s=min_segment_s,
        hubness=hubness,
        sync=sync,
        prefer=parse_preferred_tags(prefer),
    )
