"""The content-addressed media store."""

from __future__ import annotations

import hashlib
import io

import pytest

from app.media_store import EmptyUploadError, MediaStore, UploadTooLargeError


def test_put_names_by_content_and_is_idempotent(tmp_path) -> None:
    store = MediaStore(tmp_path)
    payload = b"RIFF" + bytes(range(256)) * 100
    first = store.put(io.BytesIO(payload))
    second = store.put(io.BytesIO(payload))
    assert first.key == second.key == hashlib.sha256(payload).hexdigest()
    assert first.path.read_bytes() == payload and first.size == len(payload)
    assert store.exists(first.key)
    assert not list(tmp_path.glob(".upload-*")), "temporary files must not survive"


def test_too_large_and_empty_uploads_leave_nothing(tmp_path) -> None:
    store = MediaStore(tmp_path)
    with pytest.raises(UploadTooLargeError):
        store.put(io.BytesIO(b"x" * 5000), max_bytes=4096)
    with pytest.raises(EmptyUploadError):
        store.put(io.BytesIO(b""))
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize("key", ["../../etc/passwd", "abc", "A" * 64, "/" + "a" * 63])
def test_only_digests_become_paths(tmp_path, key: str) -> None:
    with pytest.raises(ValueError, match="not a media key"):
        MediaStore(tmp_path).path_for(key)
