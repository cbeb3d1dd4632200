"""What one API process holds: settings, database sessions, media store, job queue.

Built once by the app factory and handed to routes through ``app.api.deps``.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import ApiKey
from app.db.session import session_factory
from app.media_store import MediaStore
from app.settings import Settings
from worker.queue import JobQueue, make_queue

log = logging.getLogger(__name__)

_AUTH_CACHE_S = 5.0


class Runtime:
    def __init__(self, settings: Settings, queue: JobQueue | None = None):
        self.settings = settings
        self.static_keys = settings.static_api_keys()
        self.sessions = session_factory(settings.sqlalchemy_url)
        self.media = MediaStore(settings.media_dir)
        self.queue = queue or make_queue(settings)
        self._auth_checked_at = -_AUTH_CACHE_S
        self._db_has_keys = False

    def session(self) -> Session:
        return self.sessions()

    def auth_enabled(self, db: Session) -> bool:
        """Keys are required once any key exists (static or in the database)."""
        if self.static_keys:
            return True
        now = time.monotonic()
        if now - self._auth_checked_at > _AUTH_CACHE_S:
            self._db_has_keys = db.scalar(
                select(ApiKey.id).where(ApiKey.revoked.is_(False)).limit(1)) is not None
            self._auth_checked_at = now
        return self._db_has_keys

    def warn_if_open(self) -> None:
        with self.session() as db:
            if not self.auth_enabled(db):
                log.warning("NO API KEYS CONFIGURED: the service is open to anyone who can "
                            "reach it. Set V2M_API_KEYS='secret=scope,...' to require keys.")

    def close(self) -> None:
        self.queue.close()
