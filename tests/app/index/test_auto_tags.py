"""Automatic tags in the index: the vocals and auto_tag filters, the prefer steering,
and their survival through a snapshot."""

from __future__ import annotations

import numpy as np
import pytest

from app.index.catalog import CatalogIndex
from app.index.errors import InvalidFilterError
from app.index.metadata import SearchFilters, TrackMetadata
from app.index.search import PREFER_WEIGHT, steer_by_tags
from ml.features.musicnn.extractor import MSD_TAGS

DIM = 8


def _tags(**values: float) -> tuple[tuple[str, float], ...]:
    row = dict.fromkeys(MSD_TAGS, 0.01)
    row.update({k.replace("_", " "): v for k, v in values.items()})
    return tuple(row.items())


#: track id -> automatic tags: 1 sung and mellow, 2 instrumental and acoustic,
#: 3 sung and acoustic, 4 untagged.
TAGS = {
    1: _tags(female_vocalists=0.4, instrumental=0.05, Mellow=0.5),
    2: _tags(instrumental=0.3, acoustic=0.6),
    3: _tags(male_vocalists=0.3, instrumental=0.1, acoustic=0.25),
    4: (),
}


@pytest.fixture()
def index() -> CatalogIndex:
    rng = np.random.default_rng(0)
    index = CatalogIndex(DIM, device="cpu")
    for track_id, tags in TAGS.items():
        index.add_track(track_id, rng.standard_normal((3, DIM)), TrackMetadata(auto_tags=tags))
    return index


def _ids(index, query, **kwargs) -> list[int]:
    return [h.track_id for h in index.search(query, k=4, method="centroid", **kwargs)]


def test_vocals_filter_keeps_the_sung_or_the_instrumental_tracks(index):
    query = np.ones((2, DIM))
    assert sorted(_ids(index, query, filters=SearchFilters(vocals=True))) == [1, 3]
    assert _ids(index, query, filters=SearchFilters(vocals=False)) == [2]


def test_auto_tag_filter_uses_the_confidence_threshold(index):
    query = np.ones((2, DIM))
    acoustic = SearchFilters(auto_tags=frozenset({"Acoustic"}))
    assert sorted(_ids(index, query, filters=acoustic)) == [2, 3]
    strict = SearchFilters(auto_tags=frozenset({"acoustic"}), auto_tag_min=0.5)
    assert _ids(index, query, filters=strict) == [2]
    both = SearchFilters(auto_tags=frozenset({"acoustic"}), vocals=True)
    assert _ids(index, query, filters=both) == [3]


def test_bad_auto_tag_filters_are_refused():
    with pytest.raises(InvalidFilterError, match="auto_tag_min"):
        SearchFilters(auto_tag_min=1.5)
    with pytest.raises(InvalidFilterError, match="vocals"):
        SearchFilters(vocals="yes")


def test_prefer_moves_a_track_up_by_a_bounded_amount(index):
    rng = np.random.default_rng(1)
    query = rng.standard_normal((2, DIM))
    plain = index.search(query, k=4, method="centroid")
    assert [h.track_id for h in index.search(query, k=4, method="centroid", prefer=())] == [
        h.track_id for h in plain
    ]
    steered = index.search(query, k=4, method="centroid", prefer=("mellow",))
    # Track 1 is the most mellow: it gains the whole bonus, the others in proportion
    # to their confidence (0.01, or 0 untagged).
    mellow = {1: 0.5, 2: 0.01, 3: 0.01, 4: 0.0}
    distances = np.array([-h.score for h in plain])
    z = (distances - distances.mean()) / distances.std()
    expected = {
        h.track_id: zi - PREFER_WEIGHT * mellow[h.track_id] / 0.5 for h, zi in zip(plain, z)
    }
    for hit in steered:
        assert -hit.score == pytest.approx(expected[hit.track_id], abs=1e-4)
    order = sorted(expected, key=expected.get)
    assert [h.track_id for h in steered] == order


def test_steer_by_tags_without_preference_keeps_the_order():
    ranked = np.array([0.3, 0.1, 0.2])
    steered = steer_by_tags(ranked, np.zeros(3))
    assert list(np.argsort(steered)) == list(np.argsort(ranked))
    with pytest.raises(ValueError):
        steer_by_tags(ranked, np.zeros(2))


def test_auto_tags_survive_a_snapshot(index, tmp_path):
    index.snapshot(tmp_path)
    loaded = CatalogIndex.load(tmp_path, device="cpu")
    query = np.ones((2, DIM))
    assert sorted(_ids(loaded, query, filters=SearchFilters(vocals=True))) == [1, 3]
    record = dict(loaded.metadata(2).auto_tags)
    assert record["acoustic"] == pytest.approx(0.6, abs=1e-3)
    assert loaded.metadata(4).auto_tags == ()
