"""The active model's catalog index in one process: loaded, kept current, persisted.

On first use the index is loaded from its snapshot (``<data_dir>/index/<model>``)
and the database's change log is replayed after the snapshot's watermark; with no
usable snapshot it is rebuilt from the database. Before every search the log is
replayed again (a cheap query when nothing changed), so an announcement that was
missed never makes a result stale. Activating another model swaps the index.

A process holds one holder per model role: the video-to-music model's index
(segment sequences, two-stage search) and the similarity model's (one MuSimNet vector
per track, searched exactly). An index is built with the options of its model's kind
(:attr:`ServingKind.index_options <app.services.model_kind.ServingKind.index_options>`).

Where the index lives is the index URL (``V2M_INDEX_URL``): empty, in each process
(:class:`InProcessIndexes`, FAISS, the default); otherwise in Milvus
(:class:`MilvusIndexes`: a Milvus Lite file or a Milvus server), shared by every
replica, which then keeps no snapshot and replays no log of its own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from sqlalchemy.orm import Session

from app.db.models import Model
from app.events import announce_catalog_change
from app.index.backend import IndexBackend
from app.index.catalog import CatalogIndex
from app.index.errors import SnapshotError
from app.index.milvus import MilvusCatalogIndex, MilvusOptions
from app.services.kinds import kind_class
from app.settings import Settings

log = logging.getLogger(__name__)

#: Replayed changes after which a fresh snapshot is written.
SNAPSHOT_EVERY_CHANGES = 200


class InProcessIndexes:
    """Each process holds the whole index (FAISS), loaded from its snapshot or rebuilt."""

    def __init__(self, index_dir: Path):
        self.index_dir = index_dir

    def snapshot_dir(self, model_id: int) -> Path:
        return self.index_dir / f"model-{model_id}"

    def open(self, db: Session, model: Model) -> CatalogIndex:
        root = self.snapshot_dir(model.id)
        options = kind_class(model.kind).index_options
        try:
            index = CatalogIndex.load(root, options=options)
            if index.model_id == model.id and index.dim == model.dim:
                log.info(
                    "index of model %s loaded from snapshot (%d tracks)", model.name, len(index)
                )
                return index
        except SnapshotError as exc:
            log.info("no usable index snapshot for model %s (%s): rebuilding", model.name, exc)
        index = CatalogIndex.from_db(db, model.id, options=options)
        log.info("index of model %s rebuilt from the database (%d tracks)", model.name, len(index))
        return index

    def save(self, index: IndexBackend) -> None:
        if index.model_id is not None:
            index.snapshot(self.snapshot_dir(index.model_id))

    def publish(self, db: Session, model: Model) -> None:
        """Nothing: every process replays the change log into its own index."""


class MilvusIndexes:
    """The index of each model is a Milvus collection shared by every process; this
    process keeps one open handle per model (one connection, reused by every holder and
    every publish)."""

    def __init__(self, url: str):
        self.url = url
        self._open: dict[int, MilvusCatalogIndex] = {}
        self._lock = threading.Lock()

    def open(self, db: Session, model: Model) -> MilvusCatalogIndex:
        """The collection of ``model``: created and filled from the database when it does
        not exist yet (a new model, a lost or new Milvus), else taken as it is."""
        with self._lock:
            index = self._open.get(model.id)
            if index is not None and index.dim == model.dim:
                return index
            if self.url.endswith(".db"):  # Milvus Lite: its directory is created on use
                Path(self.url).parent.mkdir(parents=True, exist_ok=True)
            options = kind_class(model.kind).index_options
            dtype = options.dtype if options is not None else "float32"
            index = MilvusCatalogIndex.from_db(
                self.url, db, model.id, options=MilvusOptions(dtype=dtype)
            )
            self._open[model.id] = index
        log.info("index of model %s in Milvus (%s, %d tracks)", model.name, index.name, len(index))
        return index

    def save(self, index: IndexBackend) -> None:
        index.snapshot(".")  # a flush: Milvus persists every write itself

    def publish(self, db: Session, model: Model) -> None:
        """Apply the logged changes to the shared collection now (a writer's last step)."""
        self.open(db, model).sync_from_db(db)


@lru_cache(maxsize=8)
def index_location(index_dir: Path, index_url: str = "") -> InProcessIndexes | MilvusIndexes:
    """Where the indexes live: in the process (no URL) or in Milvus at ``index_url``
    (one per process and URL: its holders and its publishing share the connections)."""
    return MilvusIndexes(index_url) if index_url else InProcessIndexes(index_dir)


def publish_changes(settings: Settings, db: Session, model_ids: Iterable[int]) -> None:
    """After a committed change of the tracks of ``model_ids`` (a track made ready, one
    deleted, a catalog re-embedded or re-tagged): apply it to the shared index now when
    the index is in Milvus, then tell every API process (in-process indexes replay the
    log themselves).

    Idempotent: the change log is applied after the collection's watermark, by upserts
    and deletes by id, so a redelivered job's second publish changes nothing. A failure
    is logged, not raised: the change is committed and logged, and the next search of
    any process applies it before answering.
    """
    location = index_location(settings.index_dir, settings.index_url)
    for model_id in sorted(set(model_ids)):
        model = db.get(Model, model_id)
        if model is None:
            continue
        try:
            location.publish(db, model)
        except Exception as exc:  # noqa: BLE001  (the change log still has it)
            log.warning("could not publish the changes of model %s: %s", model.name, exc)
    announce_catalog_change(settings.broker_url)


class SearchIndexHolder:
    def __init__(self, index_dir: Path, index_url: str = ""):
        self.index_dir = index_dir
        self.location = index_location(index_dir, index_url)
        self._index: IndexBackend | None = None
        self._lock = threading.Lock()
        self._changes_since_snapshot = 0

    @property
    def current(self) -> IndexBackend | None:
        return self._index

    def for_model(self, db: Session, model: Model) -> IndexBackend:
        """The index of ``model``, current with the database."""
        with self._lock:
            if self._index is None or self._index.model_id != model.id:
                self._index = self.location.open(db, model)
                self._changes_since_snapshot = 0
            index = self._index
        applied = index.sync_from_db(db)
        if applied:
            self._changes_since_snapshot += applied
            if self._changes_since_snapshot >= SNAPSHOT_EVERY_CHANGES:
                self.save()
        return index

    def save(self) -> None:
        """Persist the current index (a snapshot with its watermark, or a Milvus flush)."""
        index = self._index
        if index is not None:
            self.location.save(index)
            self._changes_since_snapshot = 0
