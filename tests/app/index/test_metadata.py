"""Metadata filters: vectorised masks against a per-track Python reference."""

from __future__ import annotations

import numpy as np
import pytest

from app.index.errors import InvalidFilterError
from app.index.metadata import MetadataColumns, SearchFilters, TrackMetadata, normalize_label


def _passes(meta: TrackMetadata, f: SearchFilters) -> bool:
    tags = {normalize_label(t) for t in meta.tags}
    return (
        (f.licenses is None or normalize_label(meta.license) in f.licenses)
        and normalize_label(meta.artist) not in f.exclude_artists
        and f.tags_all <= tags
        and (not f.tags_any or bool(f.tags_any & tags))
        and (f.bpm_min is None or (meta.bpm is not None and meta.bpm >= f.bpm_min))
        and (f.bpm_max is None or (meta.bpm is not None and meta.bpm <= f.bpm_max))
        and (
            f.min_duration_s is None
            or (meta.duration_s is not None and meta.duration_s >= f.min_duration_s)
        )
    )


FILTERS = [
    SearchFilters(),
    SearchFilters(licenses={"CC-BY", "library-a"}),
    SearchFilters(exclude_artists=["artist-1", "artist-2", "Artist-3 "]),
    SearchFilters(tags_all={"tag-01", "tag-02"}),
    SearchFilters(tags_any={"tag-05", "TAG-06"}),
    SearchFilters(bpm_min=90, bpm_max=120),
    SearchFilters(min_duration_s=200),
    SearchFilters(licenses={"cc-by-nc"}, tags_any={"tag-03"}, bpm_max=150, min_duration_s=100),
    SearchFilters(tags_all={"no-such-tag"}),
    SearchFilters(licenses={"no-such-licence"}),
]


@pytest.mark.parametrize("filters", FILTERS)
def test_mask_matches_reference(small_catalog, filters):
    records = list(small_catalog.metadata)
    records[0] = TrackMetadata()  # unknown tempo and duration
    records[1] = TrackMetadata(
        license=" CC-by", artist="ARTIST-1", tags=("Tag-01", "tag-02"), bpm=100.0, duration_s=250.0
    )
    columns = MetadataColumns()
    columns.append(records[:150])
    columns.append(records[150:])
    expected = np.array([_passes(r, filters) for r in records])
    np.testing.assert_array_equal(columns.mask(filters), expected)
    if filters.is_empty:
        assert expected.all()


def test_take_renumbers_slots_and_keeps_records(small_catalog):
    columns = MetadataColumns()
    columns.append(small_catalog.metadata)
    keep = np.arange(3, 400, 3)
    taken = columns.take(keep)
    assert len(taken) == len(keep)
    for new, old in [(0, 3), (10, 33), (len(keep) - 1, int(keep[-1]))]:
        assert taken.record(new) == columns.record(old)
    f = SearchFilters(tags_any={"tag-07"}, bpm_min=80)
    np.testing.assert_array_equal(taken.mask(f), columns.mask(f)[keep])


def test_round_trip_through_arrays(small_catalog):
    columns = MetadataColumns()
    columns.append(small_catalog.metadata)
    again = MetadataColumns.from_arrays(*columns.to_arrays())
    for f in FILTERS:
        np.testing.assert_array_equal(again.mask(f), columns.mask(f))
    again.append([TrackMetadata(license="new-licence", tags=("tag-01",))])
    assert again.record(400).license == "new-licence"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"bpm_min": 130, "bpm_max": 120},
        {"bpm_min": -1},
        {"min_duration_s": float("nan")},
        {"bpm_max": float("inf")},
        {"licenses": set()},
    ],
)
def test_invalid_filters_raise(kwargs):
    with pytest.raises(InvalidFilterError):
        SearchFilters(**kwargs)


def test_a_single_string_is_one_label():
    assert SearchFilters(licenses="CC-BY").licenses == frozenset({"cc-by"})
