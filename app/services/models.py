"""The model registry: register an exported model, activate it, load it for serving.

A registered model's files are copied under ``<data_dir>/models/<name>/`` and
verified by checksum; serving loads them with ONNX Runtime, never PyTorch.
"""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.db.models import Model

if TYPE_CHECKING:  # ml.export imports torch; serving loads it only when exporting
    from ml.export import OnnxEncoder, RegistryEntry

# Music structure used on catalog tracks when the model was trained on shots
# (a shot segmentation has no meaning for audio alone; see METHOD.md §2).
DEFAULT_MUSIC_SEGMENTER = "olda"
MUSIC_SEGMENTERS = ("foote", "sf", "olda")


class ModelRegistryError(ValueError):
    """A model cannot be registered or activated (bad files, unknown name...)."""


@dataclass(frozen=True)
class ServingModel:
    """An activated model ready to embed segment vectors."""

    row_id: int
    name: str
    entry: RegistryEntry
    music: OnnxEncoder
    video: OnnxEncoder | None

    @property
    def segmentation(self) -> str:
        return self.entry.segmentation or "transnet"

    @property
    def music_segmenter(self) -> str:
        seg = self.segmentation
        return seg if seg in MUSIC_SEGMENTERS else DEFAULT_MUSIC_SEGMENTER

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


def extractor_identity(entry: RegistryEntry, modality: str) -> dict:
    """The extractor a model was trained with: ``{"name", "version", "dim"}``."""
    identity = (entry.data.get("extractors") or {}).get(modality)
    if isinstance(identity, str):  # an entry that names the extractor only
        identity = {"name": identity, "version": None, "dim": None}
    if not identity:
        raise ModelRegistryError(f"model {entry.data.get('name')!r} records no {modality} "
                                 "extractor")
    return identity


def check_extractors(entry: RegistryEntry) -> None:
    """Refuse a model whose feature extractors differ from the installed ones.

    Features from another extractor version live in another space: embedding them
    with this model would give silently wrong rankings.
    """
    from ml.features.registry import UnknownExtractorError, get_extractor

    for modality in ("audio", "video"):
        if modality not in entry.data["branches"]:
            continue
        wanted = extractor_identity(entry, modality)
        try:
            installed = get_extractor(wanted["name"], modality)
        except UnknownExtractorError as exc:
            raise ModelRegistryError(f"model needs the {modality} extractor "
                                     f"{wanted['name']!r}, which is not available: {exc}") from exc
        for field in ("version", "dim"):
            expected, actual = wanted.get(field), getattr(installed, field)
            if expected is not None and str(expected) != str(actual):
                raise ModelRegistryError(
                    f"model was trained with {modality} extractor {wanted['name']} "
                    f"{field} {expected}, but {actual} is installed: retrain or re-export")


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
    audio = extractor_identity(entry, "audio")
    video = (extractor_identity(entry, "video") if "video" in entry.data["branches"]
             else {"name": "", "version": ""})
    row = Model(name=name, kind=entry.kind, segmentation=entry.segmentation or "",
                audio_extractor=f"{audio['name']}@{audio['version']}",
                video_extractor=f"{video['name']}@{video['version']}" if video["name"] else "",
                dim=entry.embedding_dim, path=str(target / "model.json"),
                checksum=entry.data["branches"]["music"]["sha256"], manifest=entry.data)
    db.add(row)
    db.flush()
    if activate:
        activate_model(db, row)
    return row


def activate_model(db: Session, model: Model) -> None:
    """Make ``model`` the one that serves (exactly one active model at a time)."""
    db.execute(update(Model).where(Model.id != model.id).values(active=False))
    model.active = True


class ServingModels:
    """Per-process cache of loaded ONNX sessions, keyed by model row id."""

    def __init__(self, device: str = "auto"):
        self.device = device
        self._loaded: dict[int, ServingModel] = {}
        self._lock = threading.Lock()

    def get(self, model: Model) -> ServingModel:
        with self._lock:
            if model.id not in self._loaded:
                from ml.export import load_registry_entry

                entry = load_registry_entry(model.path, verify=True)
                check_extractors(entry)
                branches = entry.data["branches"]
                video = entry.encoder("video", self.device) if "video" in branches else None
                self._loaded[model.id] = ServingModel(model.id, model.name, entry,
                                                      entry.encoder("music", self.device), video)
            return self._loaded[model.id]
