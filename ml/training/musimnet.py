"""Training of MuSimNet on triplets mined from a ground-truth similarity (docs/method.md §3-§4).

:class:`MuSimNetTask` is what MuSimNet brings to the one training loop
(:mod:`ml.training.loop`):

1. S for the training and validation tracks (tag-based, :func:`ml.similarity.tags.tag_similarity`,
   or the user's own matrix);
2. offline ranked-list mining on the training S (:func:`ml.similarity.mining.mine_triplets`:
   neighbours, uniform or distance-based; Np = 15, Nn = 250 by default);
3. per-bin input statistics of the training CQTs stored in the model;
4. the batches of an epoch: the triplet loss (margin 0.5, 42 triplets per batch), every
   track of a triplet seen through one random 512-frame patch drawn afresh each time;
5. validation: the triplet loss (fixed triplets and patches) and the four similarity
   metrics of :mod:`ml.metrics.similarity` on the validation tracks.

The loop does the rest, as for every model kind: epochs (numbered from 0), early
stopping on the monitored value, ``metrics.jsonl``, ``last.pt`` and ``best.pt`` in
``out_dir`` (``musimnet_*.pt`` before the loops were one), resuming only on the data a
run was trained on (:func:`musimnet_data_fingerprint`, stored in every checkpoint) and
setting aside a run of other tracks, tags or S.

The learning rate defaults to 1e-4, not the published 1e-6: the original trained for a
very long time on millions of triplets; with our budgets 1e-6 barely moves the weights.

:func:`train_musimnet` is the whole run.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ml.data.cache import ContentDigest
from ml.features.cqt import load_log_cqt, random_patches
from ml.losses.triplet import triplet_loss
from ml.metrics.similarity import SimilarityScores, evaluate_similarity
from ml.models.musimnet import (
    MUSIMNET_KIND,
    MuSimNet,
    MuSimNetConfig,
    embed_tracks,
    input_statistics,
)
from ml.similarity.mining import MiningConfig, mine_triplets
from ml.similarity.tags import TagExpansion, TrackTags, tag_similarity, validate_similarity
from ml.training.checkpoint import read_checkpoint
from ml.training.loop import (
    BatchLoss,
    LoopSettings,
    TrainingError,
    mean_terms,
    run_training,
    validation_generator,
)
from ml.training.resume import RunData

__all__ = [
    "MUSIMNET_MONITORS",
    "MuSimNetCheckpoint",
    "MuSimNetTask",
    "MuSimNetTrainConfig",
    "MuSimNetTrainingError",
    "TaggedTracks",
    "load_musimnet",
    "musimnet_data_fingerprint",
    "musimnet_from_state",
    "similarity_scores",
    "train_musimnet",
]

# Monitored validation quantity -> True when higher is better.
MUSIMNET_MONITORS: dict[str, bool] = {
    "val_loss": False,
    "val_map": True,
    "val_recall": True,
    "val_rr": True,
    "val_ndcg": True,
}

# The error of every training run (unusable data, a diverged loss, a mismatched
# resume), under the name MuSimNet's callers have always caught.
MuSimNetTrainingError = TrainingError


@dataclass(eq=False)
class TaggedTracks:
    """Log-CQTs of a set of tracks and what says how similar they are.

    Give ``tags`` (one set, or ``{tag: strength}`` mapping, per track) for the tag-based S,
    or ``similarity`` for the owner's own (N, N) matrix; ``names`` are for reports.
    """

    cqts: list[np.ndarray]
    tags: list[TrackTags] | None = None
    similarity: np.ndarray | None = None
    names: list[str] | None = None

    def __post_init__(self) -> None:
        if len(self.cqts) < 3:
            raise MuSimNetTrainingError(f"need at least 3 tracks, got {len(self.cqts)}")
        if (self.tags is None) == (self.similarity is None):
            raise MuSimNetTrainingError("give exactly one of tags and similarity")
        if self.tags is not None and len(self.tags) != len(self.cqts):
            raise MuSimNetTrainingError(f"{len(self.tags)} tag sets for {len(self.cqts)} tracks")
        if self.similarity is not None:
            self.similarity = validate_similarity(self.similarity, len(self.cqts))

    def __len__(self) -> int:
        return len(self.cqts)

    def similarity_matrix(
        self, tag_weights: dict[str, float] | None = None, expansion: TagExpansion | None = None
    ) -> np.ndarray:
        """The ground-truth S of these tracks (weights and expansion apply to tags only)."""
        if self.similarity is not None:
            return self.similarity
        return tag_similarity(self.tags, tag_weights, expansion)  # type: ignore[arg-type]

    @classmethod
    def from_audio_files(
        cls,
        paths: Sequence[str | os.PathLike[str]],
        tags: Sequence[TrackTags] | None = None,
        similarity: np.ndarray | None = None,
        **load_kwargs: Any,
    ) -> TaggedTracks:
        """Decode and transform audio files (any format ffmpeg reads)."""
        cqts = [load_log_cqt(p, **load_kwargs) for p in paths]
        return cls(
            cqts,
            list(tags) if tags is not None else None,
            similarity,
            [Path(p).name for p in paths],
        )


@dataclass(eq=False)
class MuSimNetTrainConfig:
    """Everything that determines a MuSimNet run. Checkpoints go to ``out_dir`` when set;
    with ``resume`` a run finding ``last.pt`` there continues from it, if that run was
    trained on the same data (else it is set aside and a new run starts)."""

    train: TaggedTracks
    validation: TaggedTracks
    out_dir: Path | None = None
    model: MuSimNetConfig = field(default_factory=MuSimNetConfig)
    mining: MiningConfig = field(default_factory=MiningConfig)
    tag_weights: dict[str, float] | None = None
    tag_expansion: dict[str, dict[str, float]] | None = None
    margin: float = 0.5
    batch_size: int = 42
    learning_rate: float = 1e-4
    triplets_per_epoch: int = 4200
    max_epochs: int = 50
    patience: int = 5
    monitor: str = "val_loss"
    validation_triplets: int = 2000
    eval_patches: int = 8
    seed: int = 0
    device: str = "auto"
    progress: bool = True
    resume: bool = True

    def __post_init__(self) -> None:
        if self.out_dir is not None:
            self.out_dir = Path(self.out_dir)
        if self.monitor not in MUSIMNET_MONITORS:
            raise MuSimNetTrainingError(
                f"unknown monitor {self.monitor!r}; expected one of {tuple(MUSIMNET_MONITORS)}"
            )
        if self.monitor == "val_loss" and self.validation_triplets < 1:
            raise MuSimNetTrainingError("monitoring val_loss needs validation_triplets >= 1")
        if self.margin < 0 or self.learning_rate <= 0:
            raise MuSimNetTrainingError("margin must be >= 0 and learning_rate > 0")
        if min(self.batch_size, self.triplets_per_epoch, self.max_epochs, self.patience) < 1:
            raise MuSimNetTrainingError(
                "batch_size, triplets_per_epoch, max_epochs, patience must be >= 1"
            )

    def hyperparameters(self) -> dict[str, Any]:
        """The JSON-ready settings stored in checkpoints (everything but the data)."""
        return {
            "model": self.model.to_dict(),
            "mining": asdict(self.mining),
            "tag_weights": self.tag_weights,
            "tag_expansion": self.tag_expansion,
            "margin": self.margin,
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "triplets_per_epoch": self.triplets_per_epoch,
            "max_epochs": self.max_epochs,
            "patience": self.patience,
            "monitor": self.monitor,
            "validation_triplets": self.validation_triplets,
            "eval_patches": self.eval_patches,
            "seed": self.seed,
            "device": self.device,
            "progress": self.progress,
            "out_dir": str(self.out_dir) if self.out_dir is not None else None,
            "resume": self.resume,
            "n_train_tracks": len(self.train),
            "n_validation_tracks": len(self.validation),
        }


@dataclass
class MuSimNetCheckpoint:
    """The outcome of a run: the best model (eval mode, on the CPU like a loaded
    checkpoint, whatever device trained it), when it was best (epochs count from 0), the
    per-epoch history (the records of ``metrics.jsonl``), and where it was saved
    (``best.pt``; None without ``out_dir``)."""

    model: MuSimNet
    best_epoch: int
    history: list[dict[str, Any]]
    path: Path | None = None


def _canonical_tags(tags: TrackTags) -> str:
    """One track's tags as sorted JSON ``{tag: strength}`` (a plain collection: 1 each)."""
    if isinstance(tags, Mapping):
        strengths = {str(tag): float(value) for tag, value in tags.items()}
    else:
        strengths = {str(tag): 1.0 for tag in tags}
    return json.dumps(strengths, sort_keys=True)


def _feed_tracks(digest: ContentDigest, tracks: TaggedTracks) -> None:
    digest.text(str(len(tracks)))
    for cqt in tracks.cqts:
        digest.array(np.asarray(cqt))
    if tracks.similarity is not None:
        digest.text("similarity").array(tracks.similarity)
    else:
        digest.text("tags")
        for tags in tracks.tags or []:
            digest.text(_canonical_tags(tags))


def musimnet_data_fingerprint(train: TaggedTracks, validation: TaggedTracks) -> str:
    """SHA-256 (64 hex digits) of the data of a MuSimNet run: per set (training, then
    validation), in order, every track's log-CQT (dtype, shape, bytes) and its tags
    (canonical JSON) or the set's similarity matrix. Names are left out: the same
    tracks under other names are the same data. Settings that shape S from the tags
    (tag weights, expansion) are compared with the other settings on resume."""
    digest = ContentDigest("v2m-musimnet-data-fingerprint-1")
    for name, tracks in (("train", train), ("validation", validation)):
        digest.text(name)
        _feed_tracks(digest, tracks)
    return digest.hexdigest()


def _triplet_patches(
    cqts: Sequence[np.ndarray], triplets: np.ndarray, patch_frames: int, rng: np.random.Generator
) -> torch.Tensor:
    """One random patch per track occurrence: shape (3 * M, n_bins, patch_frames),
    anchors first, then positives, then negatives."""
    columns = [triplets[:, j] for j in range(3)]
    return torch.from_numpy(
        np.stack(
            [random_patches(cqts[t], 1, patch_frames, rng)[0] for column in columns for t in column]
        )
    )


def _batch_loss(model: MuSimNet, patches: torch.Tensor, margin: float) -> torch.Tensor:
    anchor, positive, negative = model(patches).chunk(3)
    return triplet_loss(anchor, positive, negative, margin=margin)


def similarity_scores(
    model: MuSimNet,
    tracks: TaggedTracks,
    similarity: np.ndarray | None = None,
    n_patches: int = 8,
    seed: int = 0,
) -> SimilarityScores:
    """MAP@20, Recall@20, RR@20 and nDCG@20 of a model on a set of tracks.

    Small sets cut the protocol down to fit: at most ``N - 1`` relevant tracks.
    """
    similarity = tracks.similarity_matrix() if similarity is None else similarity
    embeddings = embed_tracks(model, tracks.cqts, n_patches=n_patches, seed=seed).astype(np.float64)
    sq = (embeddings**2).sum(axis=1)
    distances = sq[:, None] - 2.0 * embeddings @ embeddings.T + sq[None, :]
    return evaluate_similarity(distances, similarity, k=20, n_relevant=min(5, len(tracks) - 1))


def _triplet_losses(
    model: MuSimNet,
    cqts: Sequence[np.ndarray],
    triplets: np.ndarray,
    batches: Sequence[np.ndarray],
    config: MuSimNetTrainConfig,
    rng: np.random.Generator,
    device: torch.device,
) -> Iterator[BatchLoss]:
    """The triplet loss of each batch (row indices into ``triplets``), patches drawn
    from ``rng``; computed when the caller asks for it."""
    for batch in batches:
        patches = _triplet_patches(cqts, triplets[batch], config.model.patch_frames, rng)
        loss = _batch_loss(model, patches.to(device), config.margin)
        yield BatchLoss(loss, {"loss": loss.item()}, len(batch))


def _split(n: int, batch_size: int) -> list[np.ndarray]:
    """``arange(n)`` in near-equal batches of at most ``batch_size``."""
    return np.array_split(np.arange(n), math.ceil(n / batch_size))


class MuSimNetTask:
    """MuSimNet on tagged tracks, for :func:`run_training`.

    Builds S for both sets and mines the training triplets and (a fixed subset of at
    most ``validation_triplets``) validation triplets once; raises
    :class:`MuSimNetTrainingError` when the training S yields no triplet.
    """

    kind = MUSIMNET_KIND

    def __init__(self, config: MuSimNetTrainConfig) -> None:
        self.config = config
        self.train_s = config.train.similarity_matrix(config.tag_weights, config.tag_expansion)
        self.val_s = config.validation.similarity_matrix(config.tag_weights, config.tag_expansion)
        self.triplets = mine_triplets(self.train_s, **asdict(config.mining))
        if len(self.triplets) == 0:
            raise MuSimNetTrainingError(
                "the training similarity gives no triplet (no track resembles another)"
            )
        val_mining = {**asdict(config.mining), "seed": config.mining.seed + 1}
        val_triplets = mine_triplets(self.val_s, **val_mining)
        if len(val_triplets) > config.validation_triplets:
            keep = np.random.default_rng(config.seed).choice(
                len(val_triplets), config.validation_triplets, replace=False
            )
            val_triplets = val_triplets[np.sort(keep)]
        self.val_triplets = val_triplets
        self.data = RunData(
            musimnet_data_fingerprint(config.train, config.validation),
            {"train": len(config.train), "val": len(config.validation)},
            "tracks",
        )
        self.settings = LoopSettings(
            out_dir=config.out_dir,
            max_epochs=config.max_epochs,
            patience=config.patience,
            monitor=config.monitor,
            learning_rate=config.learning_rate,
            higher_is_better=MUSIMNET_MONITORS[config.monitor],
            seed=config.seed,
            device=config.device,
            progress=config.progress,
            resume=config.resume,
        )

    def run_config(self) -> dict[str, Any]:
        return self.config.hyperparameters()

    def recorded_data_sizes(self, state: Mapping[str, Any]) -> Mapping[str, int] | None:
        saved = state.get("train_config", {})
        if "n_train_tracks" not in saved:
            return None
        return {"train": saved["n_train_tracks"], "val": saved["n_validation_tracks"]}

    def build_model(self) -> MuSimNet:
        model = MuSimNet(self.config.model)
        model.set_input_statistics(*input_statistics(self.config.train.cqts))
        return model

    def batch_losses(
        self, model: MuSimNet, rng: np.random.Generator, device: torch.device
    ) -> Iterator[BatchLoss]:
        """``triplets_per_epoch`` triplets drawn from the mined ones (with replacement
        only when fewer were mined), in batches of ``batch_size``."""
        config = self.config
        picks = rng.choice(
            len(self.triplets),
            size=config.triplets_per_epoch,
            replace=len(self.triplets) < config.triplets_per_epoch,
        )
        batches = np.array_split(picks, math.ceil(len(picks) / config.batch_size))
        return _triplet_losses(
            model, config.train.cqts, self.triplets, batches, config, rng, device
        )

    def validate(self, model: MuSimNet, device: torch.device) -> dict[str, float]:
        """The triplet loss of the validation triplets (when there are any; same patches
        every epoch) and MAP, Recall, RR and nDCG of the validation tracks."""
        config = self.config
        record: dict[str, float] = {}
        if len(self.val_triplets):
            batches = _split(len(self.val_triplets), config.batch_size)
            rng = validation_generator(config.seed)
            losses = _triplet_losses(
                model, config.validation.cqts, self.val_triplets, batches, config, rng, device
            )
            record.update(mean_terms(losses, "validate"))
        scores = similarity_scores(
            model, config.validation, self.val_s, config.eval_patches, config.seed
        )
        record.update(
            map=scores.map_at_k,
            recall=scores.recall_at_k,
            rr=scores.rr_at_k,
            ndcg=scores.ndcg_at_k,
        )
        return record

    def checkpoint_extras(self) -> dict[str, Any]:
        return {}


def train_musimnet(config: MuSimNetTrainConfig) -> MuSimNetCheckpoint:
    """Train MuSimNet as configured and return the best model (see the module docstring).

    Raises
    ------
    MuSimNetTrainingError
        If the training S yields no triplet, the loss diverges, or a resume finds a
        checkpoint written with other settings.
    """
    run = run_training(MuSimNetTask(config))
    return MuSimNetCheckpoint(
        model=run.model, best_epoch=run.best_epoch, history=run.history, path=run.best_path
    )


def musimnet_from_state(state: dict[str, Any], source: str = "checkpoint") -> MuSimNet:
    """The model of a read MuSimNet checkpoint (:func:`read_checkpoint`), in eval mode.

    That of ``best.pt`` is the best epoch's. Checkpoints written before the loops were
    one also kept the best epoch's weights as ``best_state`` in every file
    (``musimnet_last.pt`` too); those are taken when present.
    """
    if state.get("kind") != MUSIMNET_KIND:
        raise MuSimNetTrainingError(f"{source} is not a MuSimNet checkpoint")
    model = MuSimNet(MuSimNetConfig.from_dict(state["model_config"]))
    model.load_state_dict(state.get("best_state", state["model_state"]))
    return model.eval()


def load_musimnet(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
) -> MuSimNet:
    """The best model of a MuSimNet checkpoint, in eval mode."""
    return musimnet_from_state(read_checkpoint(Path(path), map_location), str(path))
