"""The MuSimNet kind as the service serves it: a track-similarity model, one embedding
per track (the mean of its log-CQT patch embeddings)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import Model, Track
from app.index.catalog import IndexOptions
from app.media_store import MediaStore
from app.services.ingest import store_embeddings
from app.services.model_kind import SIMILAR, EmbedOne, ModelRegistryError, ServingKind
from ml.media.errors import MediaError
from ml.pipeline.analysis import DECODE_SAMPLE_RATE
from ml.pipeline.track import AnalysedTrack

if TYPE_CHECKING:  # ml.export imports torch: loaded with the first model, not at import
    from ml.export import RegistryEntry
    from ml.export.musimnet import OnnxMuSimNet

#: A MuSimNet track is one vector (a one-segment sequence): the centroid cost,
#: |u - v|^2 of unit vectors, is the only meaningful one, and ranks by cosine.
SIMILARITY_METHOD = "centroid"


@dataclass(frozen=True)
class ServingMuSimNet(ServingKind):
    """An activated MuSimNet: one embedding per track (the mean of its patch
    embeddings, see :class:`ml.export.musimnet.OnnxMuSimNet`)."""

    #: ``ml.models.musimnet.MUSIMNET_KIND``, spelt out here because importing it would
    #: load torch in every API process.
    kinds = ("musimnet",)
    role = SIMILAR
    space: ClassVar[str] = "musimnet"
    primary_file = "network"
    #: Never approximate (IVF) search: with one 128-d float32 vector per track, an exact
    #: scan of a million tracks reads 0.5 GB per query; the index holds each vector
    #: twice (FAISS and the store: 1 KiB per track).
    index_options = IndexOptions(exact_max=2**62)

    row_id: int
    name: str
    entry: RegistryEntry
    network: OnnxMuSimNet

    @classmethod
    def check_inputs(cls, entry: RegistryEntry) -> None:
        """Its input is the log-CQT: the version it was trained on must be installed."""
        from ml.export import ExportError
        from ml.export.musimnet import check_cqt

        try:
            check_cqt(entry)
        except ExportError as exc:
            raise ModelRegistryError(str(exc)) from exc

    @classmethod
    def input_columns(cls, entry: RegistryEntry) -> tuple[str, str]:
        return f"log-cqt@{entry.data['cqt']['version']}", ""

    @classmethod
    def load(cls, row: Model, entry: RegistryEntry, device: str) -> ServingMuSimNet:
        from ml.export.musimnet import OnnxMuSimNet

        return cls(row.id, row.name, entry, OnnxMuSimNet.from_entry(entry, device))

    def embed_signal(self, y: np.ndarray, sr: int) -> np.ndarray:
        """``(1, d)``: a track as a one-segment sequence, the shape of every stored
        embedding and of the catalog index's queries."""
        return self.network.embed_signal(y, sr)[None, :].astype(np.float32, copy=False)

    def embed_file(self, path: Path) -> np.ndarray:
        """``(1, d)`` embedding of an audio (or audio-bearing video) file."""
        return self.network.embed_file(path)[None, :].astype(np.float32, copy=False)

    def embed_analysed_track(self, track: AnalysedTrack) -> np.ndarray:
        return self.embed_signal(track.signal, DECODE_SAMPLE_RATE)

    def embed_recording(self, path: Path) -> np.ndarray:
        return self.embed_file(path)

    def catalog_embedder(self, sessions: sessionmaker[Session], store: MediaStore) -> EmbedOne:
        """One embedding per track from its stored audio (the CQT is not cached: it is
        as cheap to recompute as to store)."""

        def embed(track_id: int) -> str | None:
            with sessions() as db:
                track = db.get(Track, track_id)
                if track is None:
                    return None
                media_key = track.media_key
            try:
                vector = self.embed_file(store.path_for(media_key))
            except MediaError:
                return "failed"
            with sessions.begin() as db:
                if db.get(Track, track_id) is None:  # deleted while it was embedded
                    return None
                store_embeddings(db, track_id, self.row_id, vector)
            return "analysed"

        return embed

    def similar_method(self, requested: str) -> str:
        return SIMILARITY_METHOD

    def not_embedded(self, track_id: int) -> str:
        return (
            f"track {track_id} has no embedding under the similarity model {self.name}: "
            "it is not ready yet, or was ingested before that model was activated "
            f"(POST /models/{self.row_id}/activate embeds those tracks)"
        )
