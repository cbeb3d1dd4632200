"""Analysed query videos, kept so that the same video asked again is not decoded again.

A person comparing costs, narrowing filters or asking for more results sends the same
video again; its analysis (shots or cut points, frame features, segment vectors) and
its embeddings depend only on the file's bytes, the model and how the video is cut
(the user's cut points, the shortest segment), never on the cost, ``k``, the shortlist
or the filters. So a query is kept under ``(content SHA-256, model id, cut points,
shortest segment)``, in memory, bounded by a number of entries (least recently used
goes first) and an age. A model's entries go when another model is activated: they
are keyed by its id and age out, and :meth:`QueryCache.forget_model` drops them at once.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

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
    """

    def __init__(self, max_entries: int = 64, max_age_s: float = 3600.0) -> None:
        if max_entries < 0 or max_age_s <= 0:
            raise ValueError("max_entries must be >= 0 and max_age_s > 0")
        self.max_entries, self.max_age_s = max_entries, max_age_s
        self._items: OrderedDict[Hashable, tuple[float, Value]] = OrderedDict()
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
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: Value) -> None:
        """Keep ``value``, dropping the least recently used entries beyond the bound."""
        if self.max_entries == 0:
            return
        with self._lock:
            self._items[key] = (time.monotonic(), value)
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def forget_model(self, model_id: int) -> None:
        """Drop every entry of one model."""
        with self._lock:
            for key in [k for k in self._items if k[1] == int(model_id)]:
                del self._items[key]

    def __len__(self) -> int:
        return len(self._items)
