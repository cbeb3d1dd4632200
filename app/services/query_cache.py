"""Analysed query videos, kept so that the same video asked again is not decoded again.

A person comparing costs, narrowing filters or asking for more results sends the same
video again; its analysis (shots or cut points, frame features, segment vectors) and
its embeddings depend only on the file's bytes, the model and how the video is cut
(the user's cut points, the shortest segment), never on the cost, ``k``, the shortlist
or the filters. So a query is kept under ``(content SHA-256, model id, cut points,
shortest segment)``, in memory, bounded by a number of entries (least recently used
goes first) and an age. A model's entries go when another model is activated: they
are keyed by its id and age out, and :meth:`QueryCache.forget_model` drops them at once.

With a ``videos`` store, an entry put with its video file keeps a copy of that file
(named by its SHA-256, one copy for every entry of the same content) for exactly as
long as an entry of that content is kept: the same bounds hold for the files as for
the entries, so that a result's preview is rendered without a new upload. A file left
by a process that stopped (older than ``max_age_s``, the age no entry outlives) is
removed by the next :meth:`QueryCache.put`.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from pathlib import Path
from typing import Generic, TypeVar

from app.media_store import MediaStore

__all__ = ["QueryCache"]

Value = TypeVar("Value")


class QueryCache(Generic[Value]):
    """A bounded, thread-safe map from query keys to analysed queries.

    Parameters
    ----------
    max_entries : int
        Entries kept; 0 disables the cache.
    max_age_s : float
        Seconds an entry is served after it was stored.
    videos : MediaStore, optional
        Where the query videos of the entries are kept (none are without it).
    """

    def __init__(
        self, max_entries: int = 64, max_age_s: float = 3600.0, videos: MediaStore | None = None
    ) -> None:
        if max_entries < 0 or max_age_s <= 0:
            raise ValueError("max_entries must be >= 0 and max_age_s > 0")
        self.max_entries, self.max_age_s = max_entries, max_age_s
        self.videos = videos
        self._items: OrderedDict[Hashable, tuple[float, Value]] = OrderedDict()
        self._content: dict[Hashable, str] = {}  # key -> SHA-256 of its kept video
        self._lock = threading.Lock()

    @staticmethod
    def key(
        content_sha256: str,
        model_id: int,
        cut_points_s: tuple[float, ...] | None,
        min_segment_s: float | None,
    ) -> tuple:
        """What a query's analysis depends on."""
        return (content_sha256, int(model_id), cut_points_s, min_segment_s)

    def get(self, key: Hashable) -> Value | None:
        """The entry under ``key`` if it is there and young enough (then most recent)."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            stored_at, value = item
            if time.monotonic() - stored_at > self.max_age_s:
                released = self._drop([key])
            else:
                self._items.move_to_end(key)
                return value
        self._remove_files(released)
        return None

    def put(self, key: Hashable, value: Value, video: Path | None = None) -> None:
        """Keep ``value`` (and a copy of its ``video`` file, named by ``key[0]``, its
        content SHA-256, when the cache has a ``videos`` store), dropping the aged entries
        and the least recently used ones beyond the bound."""
        if self.max_entries == 0:
            return
        content = key[0] if video is not None and self.videos is not None else None
        if content is not None:
            self._sweep_files()
            kept = self.videos.path_for(content)
            try:
                os.utime(kept)  # its age is the newest entry's, for every process's sweep
            except FileNotFoundError:
                self.videos.put_path(Path(video))
        with self._lock:
            self._items[key] = (time.monotonic(), value)
            self._items.move_to_end(key)
            if content is not None:
                self._content[key] = content
            now = time.monotonic()
            aged = [k for k, (at, _) in self._items.items() if now - at > self.max_age_s]
            released = self._drop(aged)
            extra = len(self._items) - self.max_entries
            released += self._drop(list(self._items)[: max(extra, 0)])
        self._remove_files(released)

    def video(self, content_sha256: str) -> Path | None:
        """The kept video of a content SHA-256 while an entry of it is kept, else None."""
        if self.videos is None:
            return None
        with self._lock:
            now = time.monotonic()
            live = any(
                sha == content_sha256 and now - self._items[k][0] <= self.max_age_s
                for k, sha in self._content.items()
            )
        path = self.videos.path_for(content_sha256)
        return path if live and path.is_file() else None

    def forget_model(self, model_id: int) -> None:
        """Drop every entry of one model."""
        with self._lock:
            released = self._drop([k for k in self._items if k[1] == int(model_id)])
        self._remove_files(released)

    def __len__(self) -> int:
        return len(self._items)

    def _drop(self, keys) -> list[str]:
        """Remove ``keys`` (under the lock); the contents no entry refers to any more."""
        gone = set()
        for key in keys:
            self._items.pop(key, None)
            sha = self._content.pop(key, None)
            if sha is not None:
                gone.add(sha)
        return sorted(gone - set(self._content.values()))

    def _remove_files(self, contents: list[str]) -> None:
        for sha in contents:
            self.videos.delete(sha)

    def _sweep_files(self) -> None:
        """Remove the kept videos older than ``max_age_s`` that no entry refers to (a
        stopped process's)."""
        if not self.videos.root.is_dir():
            return
        with self._lock:
            kept = set(self._content.values())
        oldest = time.time() - self.max_age_s
        for path in self.videos.root.glob("??/??/*"):
            try:
                if path.name not in kept and path.stat().st_mtime < oldest:
                    self.videos.delete(path.name)
            except (OSError, ValueError):  # gone meanwhile, or not one of ours
                continue
