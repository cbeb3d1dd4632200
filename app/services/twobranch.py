"""The video-to-music kind (VM-Net, Seg-VM-Net) as the service serves it: a music and a
video branch over frame features, catalog tracks as music segment sequences."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.db.arrays import from_blob
from app.db.models import Model, Track, TrackAnalysis
from app.media_store import MediaStore
from app.services.ingest import (
    embed_track_file,
    save_embedded_track,
    store_embeddings,
    stored_features,
)
from app.services.model_kind import EmbedOne, ModelRegistryError, VideoToMusic
from app.services.sync_evidence import stored_events
from ml.features.registry import get_extractor
from ml.media.errors import MediaError
from ml.pipeline.track import AnalysedTrack, analyse_track_file
from ml.ranking import PackedSegments
from ml.segments import segment_vectors
from ml.sync.offset import TrackEvents
from ml.sync.prior import SyncBank, SyncPriors

if TYPE_CHECKING:  # ml.export imports torch: loaded with the first model, not at import
    from ml.export import OnnxEncoder, RegistryEntry


def extractor_identity(entry: RegistryEntry, modality: str) -> dict:
    """The extractor a model was trained with: ``{"name", "version", "dim"}``."""
    identity = entry.extractor_identity(modality)
    if identity is None:
        raise ModelRegistryError(
            f"model {entry.data.get('name')!r} records no {modality} extractor"
        )
    return identity


@dataclass(frozen=True)
class ServingModel(VideoToMusic):
    """An activated video-to-music model ready to embed segment vectors."""

    kinds = ("segvmnet", "vmnet")
    space: ClassVar[str] = "music_branch"
    primary_file = "music"

    row_id: int
    name: str
    entry: RegistryEntry
    music: OnnxEncoder
    video: OnnxEncoder | None
    #: Reference queries (its training videos, embedded) for the hubness correction and
    #: the match score; None for a model exported without them.
    bank: PackedSegments | None = None
    #: Music videos whose evidence is each catalog track's prior; None: no prior.
    sync_bank: SyncBank | None = None

    @classmethod
    def check_inputs(cls, entry: RegistryEntry) -> None:
        """Refuse a model whose feature extractors differ from the installed ones."""
        from ml.features.registry import UnknownExtractorError

        for modality in ("audio", "video"):
            if modality not in entry.data["branches"]:
                continue
            wanted = extractor_identity(entry, modality)
            try:
                installed = get_extractor(wanted["name"], modality)
            except UnknownExtractorError as exc:
                raise ModelRegistryError(
                    f"model needs the {modality} extractor "
                    f"{wanted['name']!r}, which is not available: {exc}"
                ) from exc
            for field in ("version", "dim"):
                expected, actual = wanted.get(field), getattr(installed, field)
                if expected is not None and str(expected) != str(actual):
                    raise ModelRegistryError(
                        f"model was trained with {modality} extractor {wanted['name']} "
                        f"{field} {expected}, but {actual} is installed: retrain or re-export"
                    )

    @classmethod
    def input_columns(cls, entry: RegistryEntry) -> tuple[str, str]:
        audio = extractor_identity(entry, "audio")
        video = (
            extractor_identity(entry, "video")
            if "video" in entry.data["branches"]
            else {"name": "", "version": ""}
        )
        return (
            f"{audio['name']}@{audio['version']}",
            f"{video['name']}@{video['version']}" if video["name"] else "",
        )

    @classmethod
    def load(cls, row: Model, entry: RegistryEntry, device: str) -> ServingModel:
        video = entry.encoder("video", device) if "video" in entry.data["branches"] else None
        sync_bank = entry.sync_bank()
        bank = entry.query_bank(sync_bank, video)
        return cls(
            row.id,
            row.name,
            entry,
            entry.encoder("music", device),
            video,
            PackedSegments.from_sequences(bank) if bank else None,
            sync_bank,
        )

    @property
    def segmentation(self) -> str:
        return self.entry.segmentation or "transnet"

    @property
    def music_segmenter(self) -> str:
        return self.entry.music_segmenter

    @property
    def sync_weight(self) -> float:
        return self.entry.sync_weight

    def evidence_priors(self, events: TrackEvents, features: np.ndarray) -> SyncPriors | None:
        if self.sync_bank is None:
            return None
        return self.sync_bank.priors([events], [features])

    @property
    def audio_extractor(self) -> str:
        return extractor_identity(self.entry, "audio")["name"]

    @property
    def video_extractor(self) -> str:
        return extractor_identity(self.entry, "video")["name"]

    def embed_music(self, segment_vectors: np.ndarray) -> np.ndarray:
        return self.music.embed(segment_vectors.astype(np.float32, copy=False))

    def embed_video(self, segment_vectors: np.ndarray) -> np.ndarray:
        if self.video is None:
            raise ModelRegistryError(f"model {self.name} has no video branch")
        return self.video.embed(segment_vectors.astype(np.float32, copy=False))

    def embed_analysed_track(self, track: AnalysedTrack) -> np.ndarray:
        return self.embed_music(track.segment_vectors)

    def embed_recording(self, path: Path) -> np.ndarray:
        """The recording's music-branch segment embeddings, cut as a catalog track's."""
        track = analyse_track_file(path, self.music_segmenter, self.audio_extractor)
        return self.embed_analysed_track(track)

    def cached_embedding(
        self, db: Session, track_id: int
    ) -> tuple[np.ndarray, SyncPriors | None] | None:
        """Embeddings and evidence priors from stored features and analysis, or None if
        either is missing."""
        features = stored_features(db, track_id, self.audio_extractor)
        analysis = db.scalar(
            select(TrackAnalysis).where(
                TrackAnalysis.track_id == track_id,
                TrackAnalysis.segmenter == self.music_segmenter,
            )
        )
        if features is None or analysis is None:
            return None
        track = db.get(Track, track_id)
        events = stored_events(analysis, track.duration_s if track is not None else None)
        bounds = from_blob(analysis.boundaries, -1).astype(np.float64)
        embeddings = self.embed_music(segment_vectors(features, bounds))
        priors = self.evidence_priors(events, features) if events is not None else None
        return embeddings, priors

    def catalog_embedder(self, sessions: sessionmaker[Session], store: MediaStore) -> EmbedOne:
        """Segment embeddings from the cached features and segmentation when its
        extractor and music segmenter match, else from a fresh analysis (saved)."""

        def embed(track_id: int) -> str | None:
            with sessions.begin() as db:
                track = db.get(Track, track_id)
                if track is None:
                    return None
                cached = self.cached_embedding(db, track_id)
                if cached is not None:
                    store_embeddings(db, track_id, self.row_id, *cached)
                    return "from_cache"
                media_key = track.media_key
            try:
                result = embed_track_file(store.path_for(media_key), self, lambda *_: None)
            except MediaError:
                return "failed"
            with sessions.begin() as db:
                track = db.get(Track, track_id)
                if track is None:
                    return None
                save_embedded_track(db, track, self, result)
            return "analysed"

        return embed
