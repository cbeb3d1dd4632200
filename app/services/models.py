"""The model registry: register an exported model, activate it, load it for serving.

A registered model's files are copied under ``<data_dir>/models/<name>/`` and
verified by checksum; serving loads them with ONNX Runtime, never PyTorch.

Models have one of two roles, and each role has at most one active model:

* the **video-to-music** model (Seg-VM-Net, VM-Net): embeds catalog tracks as
  music-branch segment sequences and video queries with its video branch. This is
  "the active model" of ingestion and ``/recommend/video``;
* the **similarity** model (MuSimNet): one embedding per track, used by
  ``/similar/track`` when one is active. Activating it leaves the video-to-music
  model active, and it never serves a video query.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, TypeVar

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.db.models import Model
from ml.ranking import PackedSegments

if TYPE_CHECKING:  # ml.export imports torch: loaded with the first model, not at import
    from ml.export import OnnxEncoder, RegistryEntry
    from ml.export.musimnet import OnnxMuSimNet

#: Kinds of the similarity role (``ml.models.musimnet.MUSIMNET_KIND``, spelt out here
#: because importing it would load torch in every API process); every other kind is a
#: video-to-music model.
SIMILARITY_KINDS = frozenset({"musimnet"})


class ModelRegistryError(ValueError):
    """A model cannot be registered or activated (bad files, unknown name...)."""


def is_similarity_kind(kind: str) -> bool:
    """True for a similarity model (MuSimNet), False for a video-to-music model."""
    return kind in SIMILARITY_KINDS


def _in_role(similarity: bool):
    """SQL condition: the models of the similarity role, or of the video-to-music role."""
    return Model.kind.in_(SIMILARITY_KINDS) if similarity else Model.kind.not_in(SIMILARITY_KINDS)


@dataclass(frozen=True)
class ServingModel:
    """An activated video-to-music model ready to embed segment vectors."""

    #: The embedding space of its catalog tracks, as ``/similar/track`` names it.
    space: ClassVar[str] = "music_branch"

    row_id: int
    name: str
    entry: RegistryEntry
    music: OnnxEncoder
    video: OnnxEncoder | None
    #: Reference queries (its training videos, embedded) for the hubness correction and
    #: the match score; None for a model exported without them.
    bank: PackedSegments | None = None

    @property
    def segmentation(self) -> str:
        return self.entry.segmentation or "transnet"

    @property
    def music_segmenter(self) -> str:
        return self.entry.music_segmenter

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


@dataclass(frozen=True)
class ServingMuSimNet:
    """An activated MuSimNet: one embedding per track (the mean of its patch
    embeddings, see :class:`ml.export.musimnet.OnnxMuSimNet`)."""

    space: ClassVar[str] = "musimnet"

    row_id: int
    name: str
    entry: RegistryEntry
    network: OnnxMuSimNet

    def embed_signal(self, y: np.ndarray, sr: int) -> np.ndarray:
        """``(1, d)``: a track as a one-segment sequence, the shape of every stored
        embedding and of the catalog index's queries."""
        return self.network.embed_signal(y, sr)[None, :].astype(np.float32, copy=False)

    def embed_file(self, path: Path) -> np.ndarray:
        """``(1, d)`` embedding of an audio (or audio-bearing video) file."""
        return self.network.embed_file(path)[None, :].astype(np.float32, copy=False)


def extractor_identity(entry: RegistryEntry, modality: str) -> dict:
    """The extractor a model was trained with: ``{"name", "version", "dim"}``."""
    identity = entry.extractor_identity(modality)
    if identity is None:
        raise ModelRegistryError(
            f"model {entry.data.get('name')!r} records no {modality} extractor"
        )
    return identity


def check_extractors(entry: RegistryEntry) -> None:
    """Refuse a model whose feature extractors differ from the installed ones.

    Features from another extractor version live in another space: embedding them
    with this model would give silently wrong rankings. A MuSimNet's input is the
    log-CQT: its version is compared instead.
    """
    from ml.features.registry import UnknownExtractorError, get_extractor

    if is_similarity_kind(entry.kind):
        from ml.export import ExportError
        from ml.export.musimnet import check_cqt

        try:
            check_cqt(entry)
        except ExportError as exc:
            raise ModelRegistryError(str(exc)) from exc
        return
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


def register_model(db: Session, source: Path, model_dir: Path, *, activate: bool = False) -> Model:
    """Copy an exported model (a directory with ``model.json``) into the registry."""
    from ml.export import load_registry_entry

    try:
        entry = load_registry_entry(source, verify=True)
    except Exception as exc:  # ExportError and I/O problems alike: say what is wrong
        raise ModelRegistryError(str(exc)) from exc
    check_extractors(entry)
    name = entry.data["name"]
    if db.scalar(select(Model).where(Model.name == name)) is not None:
        raise ModelRegistryError(f"a model named {name!r} is already registered")
    target = model_dir / name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(entry.path.parent, target)
    audio_input, video_input = _input_columns(entry)
    primary = "network" if is_similarity_kind(entry.kind) else "music"
    row = Model(
        name=name,
        kind=entry.kind,
        segmentation=entry.segmentation or "",
        audio_extractor=audio_input,
        video_extractor=video_input,
        dim=entry.embedding_dim,
        path=str(target / "model.json"),
        checksum=entry.onnx_files()[primary]["sha256"],
        manifest=entry.data,
    )
    db.add(row)
    db.flush()
    if activate:
        activate_model(db, row)
    return row


def _input_columns(entry: RegistryEntry) -> tuple[str, str]:
    """What the model reads, as the registry lists it: ``name@version`` per modality."""
    if is_similarity_kind(entry.kind):
        return f"log-cqt@{entry.data['cqt']['version']}", ""
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


def activate_model(db: Session, model: Model) -> None:
    """Make ``model`` the active model of its role; the other role's stays active."""
    db.execute(
        update(Model)
        .where(Model.id != model.id, _in_role(is_similarity_kind(model.kind)))
        .values(active=False)
    )
    model.active = True


def active_model(db: Session) -> Model | None:
    """The active video-to-music model: ingestion and video queries use it (never a
    MuSimNet, whether or not one is active)."""
    return db.scalar(select(Model).where(Model.active.is_(True), _in_role(False)))


def active_similarity_model(db: Session) -> Model | None:
    """The active MuSimNet, if any: ``/similar/track`` answers in its space."""
    return db.scalar(select(Model).where(Model.active.is_(True), _in_role(True)))


Loaded = TypeVar("Loaded", ServingModel, ServingMuSimNet)


class ServingModels:
    """Per-process cache of loaded ONNX sessions, keyed by model row id, files and
    checksum: one process can see several databases (the CLI, tests), where the same
    row id names different models."""

    def __init__(self, device: str = "auto"):
        self.device = device
        self._loaded: dict[tuple[int, str, str], ServingModel | ServingMuSimNet] = {}
        self._lock = threading.Lock()

    def get(self, model: Model) -> ServingModel:
        """A video-to-music model, loaded (refuses a MuSimNet: it cannot embed videos)."""
        if is_similarity_kind(model.kind):
            raise ModelRegistryError(
                f"model {model.name} is a {model.kind}: it embeds tracks for similarity only"
            )
        return self._load(model, self._two_branch)

    def similarity(self, model: Model) -> ServingMuSimNet:
        """A MuSimNet, loaded."""
        if not is_similarity_kind(model.kind):
            raise ModelRegistryError(f"model {model.name} is a {model.kind}, not a MuSimNet")
        return self._load(model, self._musimnet)

    def _load(self, model: Model, build: Callable[[Model, RegistryEntry], Loaded]) -> Loaded:
        key = (model.id, model.path, model.checksum)
        with self._lock:
            if key not in self._loaded:
                from ml.export import load_registry_entry

                entry = load_registry_entry(model.path, verify=True)
                check_extractors(entry)
                self._loaded[key] = build(model, entry)
            return self._loaded[key]  # type: ignore[return-value]

    def _two_branch(self, model: Model, entry: RegistryEntry) -> ServingModel:
        branches = entry.data["branches"]
        video = entry.encoder("video", self.device) if "video" in branches else None
        bank = entry.query_bank()
        return ServingModel(
            model.id,
            model.name,
            entry,
            entry.encoder("music", self.device),
            video,
            PackedSegments.from_sequences(bank) if bank else None,
        )

    def _musimnet(self, model: Model, entry: RegistryEntry) -> ServingMuSimNet:
        from ml.export.musimnet import OnnxMuSimNet

        return ServingMuSimNet(
            model.id, model.name, entry, OnnxMuSimNet.from_entry(entry, self.device)
        )
