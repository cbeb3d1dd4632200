"""The cache of analysed query videos: bounded, aged, keyed by what the analysis reads."""

from __future__ import annotations

import pytest

from app.services.query_cache import QueryCache


def test_a_key_names_the_content_the_model_and_the_cut_options():
    key = QueryCache.key("ab" * 32, 3, (1.0, 2.5), None)
    assert key != QueryCache.key("ab" * 32, 4, (1.0, 2.5), None)
    assert key != QueryCache.key("ab" * 32, 3, None, None)
    assert key != QueryCache.key("ab" * 32, 3, (1.0, 2.5), 0.5)
    assert key == QueryCache.key("ab" * 32, 3, (1.0, 2.5), None)


def test_least_recently_used_goes_first():
    cache = QueryCache(max_entries=2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # now the most recent
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3
    assert len(cache) == 2


def test_entries_age_out(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("app.services.query_cache.time.monotonic", lambda: clock[0])
    cache = QueryCache(max_age_s=10)
    cache.put("a", 1)
    clock[0] += 9
    assert cache.get("a") == 1
    clock[0] += 2
    assert cache.get("a") is None and len(cache) == 0


def test_forgetting_a_model_drops_its_entries_only():
    cache = QueryCache()
    cache.put(QueryCache.key("x", 1, None, None), "one")
    cache.put(QueryCache.key("x", 2, None, None), "two")
    cache.forget_model(1)
    assert cache.get(QueryCache.key("x", 1, None, None)) is None
    assert cache.get(QueryCache.key("x", 2, None, None)) == "two"


def test_zero_entries_disables_it_and_bad_bounds_are_refused():
    cache = QueryCache(max_entries=0)
    cache.put("a", 1)
    assert cache.get("a") is None
    with pytest.raises(ValueError):
        QueryCache(max_entries=-1)
    with pytest.raises(ValueError):
        QueryCache(max_age_s=0)
