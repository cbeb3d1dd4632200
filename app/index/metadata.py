"""Track metadata kept beside the vector index, in columns, for fast filtering.

A brief carries constraints (licence, artists to avoid, tags, tempo, length).
They are evaluated on numpy columns indexed by *slot* (the position of a track in
the segment store), so one filter over a million tracks is a handful of
vectorised comparisons rather than a database query per search.

Strings (licence, artist, tags) are compared case-insensitively, after trimming:
"CC-BY" and " cc-by" are the same licence. A track whose tempo or duration is
unknown never satisfies a tempo range or a minimum duration.

Automatic tags (MusiCNN's, :mod:`ml.features.tags`) are a dense float16 matrix, one
row per slot and one column per tag name (NaN where a track has no automatic tags:
it then passes no ``vocals`` or ``auto_tags`` filter), about 100 bytes per track.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from app.index.errors import InvalidFilterError
from ml.features.tags import VOCALS_THRESHOLD, vocal_score

__all__ = [
    "AUTO_TAG_MIN",
    "MetadataColumns",
    "SearchFilters",
    "TrackMetadata",
    "normalize_label",
]

#: Default confidence an automatic tag must reach to pass an ``auto_tags`` filter.
#: MusiCNN's sigmoid outputs are small: averaged over a track, its top tags are
#: typically 0.2-0.5 and most tags stay under 0.05.
AUTO_TAG_MIN = 0.2


def normalize_label(text: str) -> str:
    """The comparison key of a licence, artist or tag: trimmed and case-folded."""
    return " ".join(str(text).split()).casefold()


def _labels(values: Iterable[str] | None) -> frozenset[str]:
    if values is None:
        return frozenset()
    if isinstance(values, str):  # a lone string is one label, not its characters
        values = [values]
    return frozenset(key for key in map(normalize_label, values) if key)


@dataclass(frozen=True)
class TrackMetadata:
    """What filters can ask about one track."""

    license: str = ""
    artist: str = ""
    tags: tuple[str, ...] = ()
    bpm: float | None = None
    duration_s: float | None = None
    #: (tag name, confidence in [0, 1]) of the track's automatic tags; empty: untagged.
    auto_tags: tuple[tuple[str, float], ...] = ()


def _optional_number(value: float | None, name: str) -> float | None:
    if value is None:
        return None
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise InvalidFilterError(f"{name} must be a finite number >= 0, got {value!r}")
    return number


@dataclass(frozen=True)
class SearchFilters:
    """Constraints of a brief; every field left at its default lets every track pass.

    Parameters
    ----------
    licenses
        Allowed licences; ``None`` allows any (including none).
    exclude_artists
        Artists whose tracks must not be proposed.
    tags_all, tags_any
        Tags a track must carry: every one of ``tags_all``, and at least one of
        ``tags_any`` when it is not empty.
    bpm_min, bpm_max
        Inclusive tempo range in beats per minute.
    min_duration_s
        Shortest acceptable track, in seconds.
    vocals
        True: only tracks whose automatic tags say there is a voice (vocals score
        >= :data:`ml.features.tags.VOCALS_THRESHOLD`); False: only those that say
        there is none; None: any. An untagged track passes neither.
    auto_tags, auto_tag_min
        Automatic tags a track must all carry with a confidence >= ``auto_tag_min``.

    Raises
    ------
    InvalidFilterError
        A bound is negative or not finite, ``bpm_min > bpm_max``, ``licenses``
        is an empty set (which would exclude every track: certainly a mistake), or
        ``auto_tag_min`` is outside [0, 1].
    """

    licenses: frozenset[str] | None = None
    exclude_artists: frozenset[str] = field(default_factory=frozenset)
    tags_all: frozenset[str] = field(default_factory=frozenset)
    tags_any: frozenset[str] = field(default_factory=frozenset)
    bpm_min: float | None = None
    bpm_max: float | None = None
    min_duration_s: float | None = None
    vocals: bool | None = None
    auto_tags: frozenset[str] = field(default_factory=frozenset)
    auto_tag_min: float = AUTO_TAG_MIN

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise once, here
        if self.licenses is not None:
            licenses = _labels(self.licenses)
            if not licenses:
                raise InvalidFilterError(
                    "licenses: an empty allowed set excludes every track;"
                    " pass None to allow any licence"
                )
            set_(self, "licenses", licenses)
        set_(self, "exclude_artists", _labels(self.exclude_artists))
        set_(self, "tags_all", _labels(self.tags_all))
        set_(self, "tags_any", _labels(self.tags_any))
        set_(self, "bpm_min", _optional_number(self.bpm_min, "bpm_min"))
        set_(self, "bpm_max", _optional_number(self.bpm_max, "bpm_max"))
        set_(self, "min_duration_s", _optional_number(self.min_duration_s, "min_duration_s"))
        if self.bpm_min is not None and self.bpm_max is not None and self.bpm_min > self.bpm_max:
            raise InvalidFilterError(f"bpm_min ({self.bpm_min}) > bpm_max ({self.bpm_max})")
        set_(self, "auto_tags", _labels(self.auto_tags))
        minimum = float(self.auto_tag_min)
        if not 0.0 <= minimum <= 1.0:  # False for NaN too
            raise InvalidFilterError(f"auto_tag_min must be within [0, 1], got {minimum!r}")
        set_(self, "auto_tag_min", minimum)
        if self.vocals is not None and not isinstance(self.vocals, bool):
            raise InvalidFilterError(f"vocals must be true, false or unset, got {self.vocals!r}")

    @property
    def is_empty(self) -> bool:
        """True when no track can be excluded by these filters."""
        return (
            self.licenses is None
            and not self.exclude_artists
            and not self.tags_all
            and not self.tags_any
            and self.bpm_min is None
            and self.bpm_max is None
            and self.min_duration_s is None
            and self.vocals is None
            and not self.auto_tags
        )


class _Vocabulary:
    """Strings <-> dense int32 codes; code 0 is the empty label."""

    def __init__(self, labels: Sequence[str] = ("",)) -> None:
        self.labels: list[str] = list(labels)
        self.codes: dict[str, int] = {normalize_label(s): i for i, s in enumerate(self.labels)}

    def encode(self, text: str) -> int:
        key = normalize_label(text)
        code = self.codes.get(key)
        if code is None:
            code = self.codes[key] = len(self.labels)
            self.labels.append(key)
        return code

    def lookup(self, keys: Iterable[str]) -> np.ndarray:
        """Codes of already normalised keys; unknown keys are dropped."""
        return np.array(sorted(self.codes[k] for k in keys if k in self.codes), dtype=np.int32)


class _Growable:
    """A 1-D numpy array with amortised O(1) append."""

    def __init__(self, dtype: np.dtype, data: np.ndarray | None = None) -> None:
        data = np.zeros(0, dtype) if data is None else np.asarray(data, dtype)
        self._buffer = data.copy()
        self.size = len(data)

    def extend(self, values: np.ndarray) -> None:
        needed = self.size + len(values)
        if needed > len(self._buffer):
            grown = np.empty(max(needed, 2 * len(self._buffer), 16), self._buffer.dtype)
            grown[: self.size] = self._buffer[: self.size]
            self._buffer = grown
        self._buffer[self.size : needed] = values
        self.size = needed

    @property
    def values(self) -> np.ndarray:
        return self._buffer[: self.size]


def _member(codes: np.ndarray, vocabulary: _Vocabulary, keys: frozenset[str]) -> np.ndarray:
    """Which ``codes`` stand for one of ``keys``: one table gather per element.

    (``np.isin`` sorts or builds its own table on every call: 30x slower here.)
    """
    table = np.zeros(len(vocabulary.labels), dtype=bool)
    table[vocabulary.lookup(keys)] = True
    return table[codes]


class _AutoTagMatrix:
    """``(rows, columns)`` float16 confidences with amortised row appends; a new tag
    name adds a column (NaN for the rows before)."""

    def __init__(self, data: np.ndarray | None = None) -> None:
        data = np.full((0, 1), np.nan, np.float16) if data is None else data
        self._buffer = np.asarray(data, np.float16).copy()
        self.size = len(self._buffer)

    @property
    def values(self) -> np.ndarray:
        return self._buffer[: self.size]

    def extend(self, rows: np.ndarray) -> None:
        needed = self.size + len(rows)
        columns = max(self._buffer.shape[1], rows.shape[1])
        if needed > len(self._buffer) or columns > self._buffer.shape[1]:
            grown = np.full((max(needed, 2 * len(self._buffer), 16), columns), np.nan, np.float16)
            grown[: self.size, : self._buffer.shape[1]] = self.values
            self._buffer = grown
        self._buffer[self.size : needed] = np.nan
        self._buffer[self.size : needed, : rows.shape[1]] = rows
        self.size = needed


class MetadataColumns:
    """Per-slot metadata columns with append, compaction and vectorised filtering.

    Tags are stored as a flat list of (slot, tag code) pairs, so a track may carry
    any number of them and a tag filter costs one pass over the pairs. Automatic tags
    are a dense matrix (module docstring), its columns named by ``auto_tag_names``.
    """

    def __init__(self) -> None:
        self.licenses = _Vocabulary()
        self.artists = _Vocabulary()
        self.tags = _Vocabulary()
        self._license = _Growable(np.dtype(np.int32))
        self._artist = _Growable(np.dtype(np.int32))
        self._bpm = _Growable(np.dtype(np.float64))
        self._duration = _Growable(np.dtype(np.float64))
        self._tag_slot = _Growable(np.dtype(np.int64))
        self._tag_code = _Growable(np.dtype(np.int32))
        self.auto_tag_names = _Vocabulary()
        self._auto = _AutoTagMatrix()

    def __len__(self) -> int:
        return self._license.size

    def append(self, records: Sequence[TrackMetadata]) -> None:
        """Add one row per record, at slots ``len(self)`` onwards."""
        first = len(self)
        self._license.extend(
            np.array([self.licenses.encode(r.license) for r in records], dtype=np.int32)
        )
        self._artist.extend(
            np.array([self.artists.encode(r.artist) for r in records], dtype=np.int32)
        )
        self._bpm.extend(
            np.array([np.nan if r.bpm is None else r.bpm for r in records], dtype=np.float64)
        )
        self._duration.extend(
            np.array(
                [np.nan if r.duration_s is None else r.duration_s for r in records],
                dtype=np.float64,
            )
        )
        slots, codes = [], []
        for offset, record in enumerate(records):
            for code in sorted({self.tags.encode(t) for t in record.tags if normalize_label(t)}):
                slots.append(first + offset)
                codes.append(code)
        self._tag_slot.extend(np.array(slots, dtype=np.int64))
        self._tag_code.extend(np.array(codes, dtype=np.int32))
        auto = [[(self.auto_tag_names.encode(n), c) for n, c in r.auto_tags] for r in records]
        matrix = np.full((len(records), len(self.auto_tag_names.labels)), np.nan, np.float32)
        for row, pairs in enumerate(auto):
            for code, confidence in pairs:
                matrix[row, code] = confidence
        self._auto.extend(matrix.astype(np.float16))

    def record(self, slot: int) -> TrackMetadata:
        """The (normalised) metadata stored at ``slot``."""
        bpm, duration = float(self._bpm.values[slot]), float(self._duration.values[slot])
        tag_codes = self._tag_code.values[self._tag_slot.values == slot]
        return TrackMetadata(
            license=self.licenses.labels[self._license.values[slot]],
            artist=self.artists.labels[self._artist.values[slot]],
            tags=tuple(sorted(self.tags.labels[c] for c in tag_codes)),
            bpm=None if math.isnan(bpm) else bpm,
            duration_s=None if math.isnan(duration) else duration,
            auto_tags=tuple(
                (self.auto_tag_names.labels[code], float(value))
                for code, value in enumerate(self._auto.values[slot])
                if not math.isnan(value)
            ),
        )

    def auto_tag_column(self, name: str) -> np.ndarray:
        """``(len(self),)`` float confidences of one automatic tag (NaN: untagged track or
        a tag no track has)."""
        code = self.auto_tag_names.codes.get(normalize_label(name))
        if code is None or code >= self._auto.values.shape[1]:
            return np.full(len(self), np.nan)
        return self._auto.values[:, code].astype(np.float64)

    def vocal_scores(self) -> np.ndarray:
        """``(len(self),)`` :func:`ml.features.tags.vocal_score` of every slot (NaN: untagged)."""
        names = self.auto_tag_names.labels
        values = self._auto.values
        return vocal_score(names[: values.shape[1]], values.astype(np.float64))

    def preference(self, slots: np.ndarray, names: Sequence[str]) -> np.ndarray:
        """``(len(slots),)`` in [0, 1]: the mean confidence of ``names`` among the automatic
        tags of each slot (0 for a tag a track lacks, or an untagged track)."""
        slots = np.asarray(slots, dtype=np.int64)
        if not names:
            return np.zeros(len(slots))
        columns = np.stack([self.auto_tag_column(n)[slots] for n in names])
        return np.nan_to_num(columns, nan=0.0).mean(axis=0)

    def mask(self, filters: SearchFilters) -> np.ndarray:
        """Boolean (len(self),): which slots satisfy ``filters``."""
        n = len(self)
        keep = np.ones(n, dtype=bool)
        if filters.licenses is not None:
            keep &= _member(self._license.values, self.licenses, filters.licenses)
        if filters.exclude_artists:
            keep &= ~_member(self._artist.values, self.artists, filters.exclude_artists)
        # NaN compares False: unknown tempo or duration never passes a bound.
        if filters.bpm_min is not None:
            keep &= self._bpm.values >= filters.bpm_min
        if filters.bpm_max is not None:
            keep &= self._bpm.values <= filters.bpm_max
        if filters.min_duration_s is not None:
            keep &= self._duration.values >= filters.min_duration_s
        if filters.tags_all:
            keep &= self._tag_count(filters.tags_all, n) == len(filters.tags_all)
        if filters.tags_any:
            keep &= self._tag_count(filters.tags_any, n) > 0
        if filters.vocals is not None:
            scores = self.vocal_scores()  # NaN compares False both ways
            keep &= scores >= VOCALS_THRESHOLD if filters.vocals else scores < VOCALS_THRESHOLD
        for name in filters.auto_tags:
            keep &= self.auto_tag_column(name) >= filters.auto_tag_min
        return keep

    def _tag_count(self, keys: frozenset[str], n: int) -> np.ndarray:
        """How many of ``keys`` each slot carries (tags are unique per slot)."""
        hit = _member(self._tag_code.values, self.tags, keys)
        return np.bincount(self._tag_slot.values[hit], minlength=n)[:n]

    def take(self, slots: np.ndarray) -> MetadataColumns:
        """A copy holding only ``slots``, renumbered 0..len(slots)-1 in that order."""
        slots = np.asarray(slots, dtype=np.int64)
        new_of_old = np.full(len(self), -1, dtype=np.int64)
        new_of_old[slots] = np.arange(len(slots))
        kept = new_of_old[self._tag_slot.values] >= 0
        out = MetadataColumns()
        out.licenses, out.artists, out.tags = self.licenses, self.artists, self.tags
        out._license = _Growable(np.dtype(np.int32), self._license.values[slots])
        out._artist = _Growable(np.dtype(np.int32), self._artist.values[slots])
        out._bpm = _Growable(np.dtype(np.float64), self._bpm.values[slots])
        out._duration = _Growable(np.dtype(np.float64), self._duration.values[slots])
        tag_slots = new_of_old[self._tag_slot.values[kept]]
        order = np.argsort(tag_slots, kind="stable")
        out._tag_slot = _Growable(np.dtype(np.int64), tag_slots[order])
        out._tag_code = _Growable(np.dtype(np.int32), self._tag_code.values[kept][order])
        out.auto_tag_names = self.auto_tag_names
        out._auto = _AutoTagMatrix(self._auto.values[slots])
        return out

    # -- persistence -----------------------------------------------------------------
    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
        """The columns and the vocabularies, for a snapshot."""
        arrays = {
            "license": self._license.values,
            "artist": self._artist.values,
            "bpm": self._bpm.values,
            "duration": self._duration.values,
            "tag_slot": self._tag_slot.values,
            "tag_code": self._tag_code.values,
            "auto_tags": self._auto.values,
        }
        vocabularies = {
            "licenses": self.licenses.labels,
            "artists": self.artists.labels,
            "tags": self.tags.labels,
            "auto_tags": self.auto_tag_names.labels,
        }
        return arrays, vocabularies

    @classmethod
    def from_arrays(
        cls, arrays: dict[str, np.ndarray], vocabularies: dict[str, list[str]]
    ) -> MetadataColumns:
        out = cls()
        out.licenses = _Vocabulary(vocabularies["licenses"])
        out.artists = _Vocabulary(vocabularies["artists"])
        out.tags = _Vocabulary(vocabularies["tags"])
        out._license = _Growable(np.dtype(np.int32), arrays["license"])
        out._artist = _Growable(np.dtype(np.int32), arrays["artist"])
        out._bpm = _Growable(np.dtype(np.float64), arrays["bpm"])
        out._duration = _Growable(np.dtype(np.float64), arrays["duration"])
        out._tag_slot = _Growable(np.dtype(np.int64), arrays["tag_slot"])
        out._tag_code = _Growable(np.dtype(np.int32), arrays["tag_code"])
        # A snapshot written before automatic tags holds none: every track untagged.
        out.auto_tag_names = _Vocabulary(vocabularies.get("auto_tags", [""]))
        auto = arrays.get("auto_tags")
        if auto is None:
            auto = np.full((len(out._license.values), 1), np.nan, np.float16)
        out._auto = _AutoTagMatrix(auto)
        return out

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.to_arrays()[0].values())
