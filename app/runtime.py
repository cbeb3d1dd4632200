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
from app.events import BrokerSubscription, add_local_listener, remove_local_listener
from app.jobs.queue import JobQueue, make_queue
from app.limits import AnalysisSlots
from app.media_store import MediaStore
from app.services.model_kind import ROLES
from app.services.models import ServingModels
from app.services.query_cache import QueryCache
from app.services.search_index import SearchIndexHolder
from app.settings import Settings

log = logging.getLogger(__name__)

_AUTH_CACHE_S = 5.0


class Runtime:
    def __init__(self, settings: Settings, queue: JobQueue | None = None):
        self.settings = settings
        self.static_keys = settings.static_api_keys()
        self.sessions = session_factory(settings.sqlalchemy_url)
        self.media = MediaStore(settings.media_dir)
        self.queue = queue or make_queue(settings)
        self.models = ServingModels(settings.device)
        self.analysis = AnalysisSlots(settings.analysis_slots, settings.request_timeout_s)
        #: Analysed query videos, reused when the same video is asked again, and the
        #: videos themselves (a result's preview is rendered from them).
        self.queries: QueryCache = QueryCache(videos=MediaStore(settings.query_video_dir))
        #: The catalog index of each model role's active model.
        self.indexes = {
            role: SearchIndexHolder(settings.index_dir, settings.index_url) for role in ROLES
        }
        self._subscription: BrokerSubscription | None = None
        self._auth_checked_at = -_AUTH_CACHE_S
        self._keys_required = settings.require_api_keys or bool(self.static_keys)

    def session(self) -> Session:
        return self.sessions()

    def auth_enabled(self, db: Session) -> bool:
        """Are keys required? Yes when forced (``V2M_REQUIRE_API_KEYS``), when static keys
        are configured, or once any key was ever issued in the database.

        A revoked row counts: revoking the last valid key locks the service, it never opens
        it. Once required, keys stay required for the life of the process (no more queries).
        """
        if self._keys_required:
            return True
        now = time.monotonic()
        if now - self._auth_checked_at > _AUTH_CACHE_S:
            self._keys_required = db.scalar(select(ApiKey.id).limit(1)) is not None
            self._auth_checked_at = now
        return self._keys_required

    def warn_if_open(self) -> None:
        with self.session() as db:
            if not self.auth_enabled(db):
                log.warning(
                    "NO API KEYS CONFIGURED: the service is open to anyone who can "
                    "reach it. Set V2M_API_KEYS='secret=scope,...' or "
                    "V2M_REQUIRE_API_KEYS=true to require keys."
                )
            elif (
                not self.static_keys
                and db.scalar(select(ApiKey.id).where(ApiKey.revoked.is_(False)).limit(1)) is None
            ):
                log.warning(
                    "API keys are required but none is valid: every request but "
                    "/healthz, /readyz and /metrics gets 401. Issue one with "
                    "`v2m keys issue NAME --scopes admin`."
                )

    def start(self) -> None:
        """Follow catalog changes: from in-process jobs directly, from workers via the broker."""
        add_local_listener(self.catalog_changed)
        if self.settings.broker_url:
            try:
                self._subscription = BrokerSubscription(
                    self.settings.broker_url, self.catalog_changed
                )
            except Exception as exc:  # noqa: BLE001  (the change log still catches us up)
                log.warning("not subscribed to catalog changes: %s", exc)
        if hasattr(self.queue, "resume_unfinished"):
            resumed = self.queue.resume_unfinished(self.sessions)
            if resumed:
                log.info("resumed %d unfinished jobs of a previous run", resumed)
        self.warn_if_open()

    def catalog_changed(self) -> None:
        """Replay the change log into the indexes now, rather than at the next search."""
        for holder in self.indexes.values():
            index = holder.current
            if index is None:
                continue
            try:
                with self.session() as db:
                    index.sync_from_db(db)
            except Exception as exc:  # noqa: BLE001  (the next search replays the log again)
                log.warning("index sync after a catalog change failed: %s", exc)

    def close(self) -> None:
        remove_local_listener(self.catalog_changed)
        if self._subscription is not None:
            self._subscription.close()
        self.queue.close()
        self.analysis.close()  # after the jobs: no child process outlives the server
        for holder in self.indexes.values():
            try:
                holder.save()
            except Exception as exc:  # noqa: BLE001  (a snapshot is an optimisation)
                log.warning("could not write the index snapshot: %s", exc)
