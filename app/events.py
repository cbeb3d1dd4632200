"""Catalog change notifications from workers to every API process.

A worker that makes a track ready (or a route that deletes one) announces it;
each API process then replays the database's change log into its index. The
announcement only makes that faster: an API process that misses it still
catches up from the log before it answers its next search.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

CHANNEL = "v2m:catalog-changed"
_local_listeners: list[Callable[[], None]] = []
_lock = threading.Lock()


def add_local_listener(callback: Callable[[], None]) -> None:
    with _lock:
        _local_listeners.append(callback)


def remove_local_listener(callback: Callable[[], None]) -> None:
    with _lock:
        if callback in _local_listeners:
            _local_listeners.remove(callback)


def announce_catalog_change(broker_url: str) -> None:
    """Tell API processes the catalog changed (best effort: the log is the truth)."""
    with _lock:
        listeners = list(_local_listeners)
    for callback in listeners:
        callback()
    if broker_url:
        try:
            import redis

            with redis.Redis.from_url(broker_url, socket_timeout=2) as client:
                client.publish(CHANNEL, b"1")
        except Exception as exc:  # noqa: BLE001  (a missed announcement is caught up later)
            log.warning("could not announce a catalog change: %s", exc)


class BrokerSubscription:
    """Calls ``callback`` whenever any process announces a change on the broker."""

    def __init__(self, broker_url: str, callback: Callable[[], None]):
        import redis

        self._pubsub = redis.Redis.from_url(broker_url).pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe(**{CHANNEL: lambda _message: callback()})
        self._thread = self._pubsub.run_in_thread(
            sleep_time=0.5, daemon=True, exception_handler=self._on_error
        )

    @staticmethod
    def _on_error(exc: BaseException, pubsub, thread) -> None:
        log.warning("catalog-change subscription error (will retry): %s", exc)

    def close(self) -> None:
        self._thread.stop()
        self._pubsub.close()
