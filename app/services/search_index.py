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
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from sqlalchemy.orm import Session

from app.db.models import Model
from app.index.catalog import CatalogIndex
from app.index.errors import SnapshotError
from app.services.kinds import kind_class

log = logging.getLogger(__name__)

#: Replayed changes after which a fresh snapshot is written.
SNAPSHOT_EVERY_CHANGES = 200


class SearchIndexHolder:
    def __init__(self, index_dir: Path):
        self.index_dir = index_dir
        self._index: CatalogIndex | None = None
        self._lock = threading.Lock()
        self._changes_since_snapshot = 0

    @property
    def current(self) -> CatalogIndex | None:
        return self._index

    def snapshot_dir(self, model_id: int) -> Path:
        return self.index_dir / f"model-{model_id}"

    def for_model(self, db: Session, model: Model) -> CatalogIndex:
        """The index of ``model``, current with the database."""
        with self._lock:
            if self._index is None or self._index.model_id != model.id:
                self._index = self._open(db, model)
                self._changes_since_snapshot = 0
            index = self._index
        applied = index.sync_from_db(db)
        if applied:
            self._changes_since_snapshot += applied
            if self._changes_since_snapshot >= SNAPSHOT_EVERY_CHANGES:
                self.save()
        return index

    def _open(self, db: Session, model: Model) -> CatalogIndex:
        root = self.snapshot_dir(model.id)
        options = kind_class(model.kind).index_options
        try:
            index = CatalogIndex.load(root, options=options)
            if index.model_id == model.id and index.dim == model.dim:
                log.info(
                    "index of model %s loaded from snapshot (%d tracks)",
                    model.name,
                    len(index.track_ids()),
                )
                return index
        except SnapshotError as exc:
            log.info("no usable index snapshot for model %s (%s): rebuilding", model.name, exc)
        index = CatalogIndex.from_db(db, model.id, options=options)
        log.info(
            "index of model %s rebuilt from the database (%d tracks)",
            model.name,
            len(index.track_ids()),
        )
        return index

    def save(self) -> None:
        """Write a snapshot of the current index (atomic; the watermark travels with it)."""
        index = self._index
        if index is not None and index.model_id is not None:
            index.snapshot(self.snapshot_dir(index.model_id))
            self._changes_since_snapshot = 0
