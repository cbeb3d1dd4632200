"""What the service asks of a kind of model: the :class:`ServingKind` interface.

Every kind of model the registry accepts is one subclass (listed in
:data:`app.services.kinds.SERVING_KINDS`), and the service asks that class instead of
testing the kind: its role, how it is checked and loaded, what its registry row
stores, how it embeds a catalog track at ingestion and at re-embedding, how it embeds
a reference recording and ranks ``/similar/track``.

Models have one of two roles, and each role has at most one active model:

* :data:`RECOMMEND`, the video-to-music model (:class:`VideoToMusic`): it analyses and
  embeds catalog tracks as music segment sequences, answers ``/recommend/video``, and
  ``/similar/track`` when no model of the other role is active;
* :data:`SIMILAR`, a track-similarity model: it embeds every catalog track beside the
  video-to-music model (same decoded audio, same transaction) and answers
  ``/similar/track`` when active. It never serves a video query.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Self

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import Model
from app.index.catalog import IndexOptions
from app.media_store import MediaStore
from ml.pipeline.track import AnalysedTrack
from ml.ranking import PackedSegments
from ml.sync.offset import TrackEvents
from ml.sync.prior import SyncPriors

if TYPE_CHECKING:  # ml.export imports torch: loaded with the first model, not at import
    from ml.export import RegistryEntry

#: The video-to-music role: ingestion's analysis, ``/recommend/video``.
RECOMMEND = "recommend"
#: The track-similarity role: ``/similar/track`` when one is active.
SIMILAR = "similar"
ROLES = (RECOMMEND, SIMILAR)

#: Embeds one stored catalog track under a model (re-embedding); returns
#: "from_cache", "analysed", "failed", or None (the track is gone).
EmbedOne = Callable[[int], str | None]


class ModelRegistryError(ValueError):
    """A model cannot be registered or activated (bad files, unknown name...)."""


class ServingKind(ABC):
    """One kind of model, loaded for serving (an instance is one activated model).

    The class attributes and class methods describe the kind (what the registry
    needs before anything is loaded); the instance methods are what serving asks of
    a loaded model of the kind.
    """

    #: The ``kind`` values of its registry entries (``model.json``'s ``kind``).
    kinds: ClassVar[tuple[str, ...]]
    #: :data:`RECOMMEND` or :data:`SIMILAR`.
    role: ClassVar[str]
    #: The embedding space of its catalog tracks, as ``/similar/track`` names it.
    space: ClassVar[str]
    #: The ONNX file (a role of :meth:`RegistryEntry.onnx_files`) whose checksum the
    #: registry row keeps.
    primary_file: ClassVar[str]
    #: How its catalog index is built (None: the defaults).
    index_options: ClassVar[IndexOptions | None] = None

    row_id: int
    name: str
    entry: RegistryEntry

    @classmethod
    @abstractmethod
    def check_inputs(cls, entry: RegistryEntry) -> None:
        """Refuse (:class:`ModelRegistryError`) a model whose inputs are not what this
        installation computes: another extractor or CQT version lives in another
        space, and would give silently wrong rankings."""

    @classmethod
    @abstractmethod
    def input_columns(cls, entry: RegistryEntry) -> tuple[str, str]:
        """What the model reads, as the registry row stores it (``audio_extractor``,
        ``video_extractor``): ``name@version`` per modality, "" for none."""

    @classmethod
    @abstractmethod
    def load(cls, row: Model, entry: RegistryEntry, device: str) -> Self:
        """The model of registry row ``row`` (its verified ``entry``), loaded."""

    @abstractmethod
    def embed_analysed_track(self, track: AnalysedTrack) -> np.ndarray:
        """A catalog track's ``(K, d)`` embeddings at ingestion, from the one track
        pipeline's analysis (decoded signal, frame features, music segments)."""

    @abstractmethod
    def embed_recording(self, path: Path) -> np.ndarray:
        """An uploaded reference recording's embeddings, as its catalog tracks have
        them (the ``/similar/track`` query)."""

    @abstractmethod
    def catalog_embedder(self, sessions: sessionmaker[Session], store: MediaStore) -> EmbedOne:
        """Embeds one stored catalog track and stores it (the re-embed job's step)."""

    def similar_method(self, requested: str) -> str:
        """The cost ``/similar/track`` ranks with, given the one the query asked for."""
        return requested

    def not_embedded(self, track_id: int) -> str:
        """Why ``/similar/track`` cannot answer about a track without an embedding."""
        return f"track {track_id} is not ready under the active model"


class VideoToMusic(ServingKind):
    """A kind of the :data:`RECOMMEND` role: what ingestion, ``/recommend/video`` and
    the served-path pipeline ask of the video-to-music model besides
    :class:`ServingKind`."""

    role = RECOMMEND

    #: Reference queries (its training videos, embedded) for the hubness correction and
    #: the match score; None for a model exported without them.
    bank: PackedSegments | None

    @property
    @abstractmethod
    def segmentation(self) -> str:
        """How its training videos were cut (shots: "transnet"...)."""

    @property
    def sync_weight(self) -> float:
        """Weight of the cuts-on-beats evidence in its ranking, fit on its validation
        clips (docs/method.md §9); 0 when it has none."""
        return 0.0

    def evidence_priors(self, events: TrackEvents, features: np.ndarray) -> SyncPriors | None:
        """A catalog track's mean evidence over the model's bank of music videos
        (:mod:`ml.sync.prior`), from its beats, downbeats and boundaries and its 1 Hz
        ``features``; None for a model without a bank."""
        return None

    @property
    @abstractmethod
    def music_segmenter(self) -> str:
        """The music structure that cuts its catalog tracks."""

    @property
    @abstractmethod
    def audio_extractor(self) -> str:
        """The audio frame-feature extractor of its catalog tracks."""

    @property
    @abstractmethod
    def video_extractor(self) -> str:
        """The video frame-feature extractor of its queries."""

    @abstractmethod
    def embed_music(self, segment_vectors: np.ndarray) -> np.ndarray:
        """``(K, d)`` embeddings of a track's ``(K, D)`` segment vectors."""

    @abstractmethod
    def embed_video(self, segment_vectors: np.ndarray) -> np.ndarray:
        """``(K, d)`` embeddings of a video's ``(K, D)`` segment vectors."""
