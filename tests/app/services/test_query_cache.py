"""The cache of analysed query videos: bounded, aged, keyed by what the analysis reads."""

from __future__ import annotations

import hashlib
import io
import os
import time

import pytest

from app.media_store import MediaStore
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


def test_a_kept_video_lives_as_long_as_an_entry_of_its_content(tmp_path, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("app.services.query_cache.time.monotonic", lambda: clock[0])
    video = tmp_path / "v.mp4"
    video.write_bytes(b"a video's bytes")
    sha = hashlib.sha256(video.read_bytes()).hexdigest()
    store = MediaStore(tmp_path / "kept")
    cache = QueryCache(max_entries=2, max_age_s=10, videos=store)
    one, two = QueryCache.key(sha, 1, None, None), QueryCache.key(sha, 1, (2.0,), None)
    cache.put(one, "whole", video=video)
    cache.put(two, "cut", video=video)
    kept = cache.video(sha)
    assert kept == store.path_for(sha) and kept.read_bytes() == video.read_bytes()
    video.unlink()  # the upload goes; the copy stays
    cache.put(QueryCache.key("b" * 64, 1, None, None), "other")  # evicts `one`
    assert cache.get(one) is None and cache.video(sha) == kept  # `two` still holds it
    cache.forget_model(1)
    assert cache.video(sha) is None and not kept.exists() and len(cache) == 0


def test_a_kept_video_ages_out_with_its_entry(tmp_path, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("app.services.query_cache.time.monotonic", lambda: clock[0])
    video = tmp_path / "v.mp4"
    video.write_bytes(b"bytes")
    sha = hashlib.sha256(b"bytes").hexdigest()
    cache = QueryCache(max_age_s=10, videos=MediaStore(tmp_path / "kept"))
    cache.put(QueryCache.key(sha, 1, None, None), "q", video=video)
    clock[0] += 11
    assert cache.video(sha) is None  # too old to be served...
    cache.put(QueryCache.key("c" * 64, 1, None, None), "later")
    assert not MediaStore(tmp_path / "kept").exists(sha)  # ...and gone at the next put


def test_a_stopped_processs_old_videos_are_swept(tmp_path):
    store = MediaStore(tmp_path / "kept")
    left = store.put(io.BytesIO(b"left behind"))
    os.utime(left.path, (time.time() - 20, time.time() - 20))
    fresh = store.put(io.BytesIO(b"another process's, recent"))
    video = tmp_path / "v.mp4"
    video.write_bytes(b"new")
    cache = QueryCache(max_age_s=10, videos=store)
    cache.put(QueryCache.key(hashlib.sha256(b"new").hexdigest(), 1, None, None), "q", video=video)
    assert not left.path.exists() and fresh.path.exists()
