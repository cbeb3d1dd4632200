"""The model registry: register an exported model, activate it, load it for serving.

A registered model's files are copied under ``<data_dir>/models/<name>/`` and
verified by checksum; serving loads them with ONNX Runtime, never PyTorch.

Each kind of model is one serving class (:data:`app.services.kinds.SERVING_KINDS`),
which says its role; each role has at most one active model:

* the **video-to-music** model (:data:`~app.services.model_kind.RECOMMEND`: Seg-VM-Net,
  VM-Net): embeds catalog tracks as music-branch segment sequences and video queries
  with its video branch. This is "the active model" of ingestion and
  ``/recommend/video``;
* the **similarity** model (:data:`~app.services.model_kind.SIMILAR`: MuSimNet): one
  embedding per track, used by ``/similar/track`` when one is active. Activating it
  leaves the video-to-music model active, and it never serves a video query.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.db.models import Model
from app.services.kinds import kind_class, kinds_in_role
from app.services.model_kind import (
    RECOMMEND,
    ROLES,
    SIMILAR,
    ModelRegistryError,
    ServingKind,
    VideoToMusic,
)
from app.services.musimnet import ServingMuSimNet
from app.services.twobranch import ServingModel

__all__ = [
    "ModelRegistryError",
    "ServingModel",
    "ServingModels",
    "ServingMuSimNet",
    "activate_model",
    "active_in_role",
    "active_model",
    "active_models",
    "active_similarity_model",
    "model_evaluation",
    "register_model",
]


def _in_role(role: str):
    """SQL condition: the models of ``role``."""
    return Model.kind.in_(kinds_in_role(role))


def register_model(db: Session, source: Path, model_dir: Path, *, activate: bool = False) -> Model:
    """Copy an exported model (a directory with ``model.json``) into the registry."""
    from ml.export import load_registry_entry

    try:
        entry = load_registry_entry(source, verify=True)
    except Exception as exc:  # ExportError and I/O problems alike: say what is wrong
        raise ModelRegistryError(str(exc)) from exc
    kind = kind_class(entry.kind)
    kind.check_inputs(entry)
    name = entry.data["name"]
    if db.scalar(select(Model).where(Model.name == name)) is not None:
        raise ModelRegistryError(f"a model named {name!r} is already registered")
    target = model_dir / name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(entry.path.parent, target)
    audio_input, video_input = kind.input_columns(entry)
    row = Model(
        name=name,
        kind=entry.kind,
        segmentation=entry.segmentation or "",
        audio_extractor=audio_input,
        video_extractor=video_input,
        dim=entry.embedding_dim,
        path=str(target / "model.json"),
        checksum=entry.onnx_files()[kind.primary_file]["sha256"],
        manifest=entry.data,
    )
    db.add(row)
    db.flush()
    if activate:
        activate_model(db, row)
    return row


#: The validation numbers of a model's training shown beside it (v2m train records them).
_VALIDATION_KEYS = ("val_mean_rank_fraction", "val_recall_at_1", "val_recall_at_10")


def model_evaluation(manifest: dict) -> dict[str, float | str]:
    """What a registered model's training measured on its validation clips, from its
    registry entry (``manifest``): the recipe, the validation retrieval numbers and the
    fitted weight of the cuts-on-beats evidence, those it has."""
    training = manifest.get("training") or {}
    metrics = training.get("metrics") or {}
    out: dict[str, float | str] = {
        key: float(metrics[key]) for key in _VALIDATION_KEYS if key in metrics
    }
    recipe = (training.get("config") or {}).get("recipe")
    if recipe:
        out["recipe"] = str(recipe)
    fusion = manifest.get("sync_fusion") or {}
    if "weight" in fusion:
        out["sync_weight"] = float(fusion["weight"])
    return out


def activate_model(db: Session, model: Model) -> None:
    """Make ``model`` the active model of its role; the other role's stays active."""
    db.execute(
        update(Model)
        .where(Model.id != model.id, _in_role(kind_class(model.kind).role))
        .values(active=False)
    )
    model.active = True


def active_in_role(db: Session, role: str) -> Model | None:
    """The active model of ``role``, if any."""
    return db.scalar(select(Model).where(Model.active.is_(True), _in_role(role)))


def active_model(db: Session) -> Model | None:
    """The active video-to-music model: ingestion and video queries use it (never a
    MuSimNet, whether or not one is active)."""
    return active_in_role(db, RECOMMEND)


def active_similarity_model(db: Session) -> Model | None:
    """The active similarity model (MuSimNet), if any: ``/similar/track`` answers in its
    space."""
    return active_in_role(db, SIMILAR)


def active_models(db: Session) -> list[Model]:
    """The active model of every role that has one, in role order."""
    return [row for role in ROLES if (row := active_in_role(db, role)) is not None]


class ServingModels:
    """Per-process cache of loaded ONNX sessions, keyed by model row id, files and
    checksum: one process can see several databases (the CLI, tests), where the same
    row id names different models."""

    def __init__(self, device: str = "auto"):
        self.device = device
        self._loaded: dict[tuple[int, str, str], ServingKind] = {}
        self._lock = threading.Lock()

    def get(self, model: Model) -> VideoToMusic:
        """The video-to-music model, loaded (refuses a model of another role: it cannot
        embed videos)."""
        if kind_class(model.kind).role != RECOMMEND:
            raise ModelRegistryError(
                f"model {model.name} is a {model.kind}: it embeds tracks for similarity only"
            )
        return self.load(model)  # type: ignore[return-value]

    def load(self, model: Model) -> ServingKind:
        """A model of any kind, loaded by its serving class (once per process)."""
        key = (model.id, model.path, model.checksum)
        with self._lock:
            if key not in self._loaded:
                from ml.export import load_registry_entry

                kind = kind_class(model.kind)
                entry = load_registry_entry(model.path, verify=True)
                kind.check_inputs(entry)
                self._loaded[key] = kind.load(model, entry, self.device)
            return self._loaded[key]
