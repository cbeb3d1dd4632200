"""Training of MuSimNet on triplets mined from a ground-truth similarity (docs/method.md §3-§4).

:func:`train_musimnet` is the whole run:

1. S for the training and validation tracks (tag-based, :func:`ml.similarity.tags.tag_similarity`,
   or the user's own matrix);
2. offline ranked-list mining on the training S (:func:`ml.similarity.mining.mine_triplets`:
   neighbours, uniform or distance-based; Np = 15, Nn = 250 by default);
3. per-bin input statistics of the training CQTs stored in the model;
4. epochs of Adam on the triplet loss (margin 0.5, 42 triplets per batch), every track of
   a triplet seen through one random 512-frame patch drawn afresh each time;
5. after each epoch, the validation triplet loss (fixed triplets and patches) and the four
   similarity metrics of :mod:`ml.evaluation.similarity` on the validation tracks;
   early stopping on the monitored one, a metrics log and two checkpoints
   (``musimnet_last.pt`` to resume, ``musimnet_best.pt`` to use).

The learning rate defaults to 1e-4, not the published 1e-6: the original trained for a
very long time on millions of triplets; with our budgets 1e-6 barely moves the weights.

Reproducibility: the network is initialised from ``seed`` and every epoch draws its
triplets and patches from a generator seeded by ``(seed, epoch)``, so a run resumed from
``musimnet_last.pt`` takes the same steps as an uninterrupted one (on CPU). A run is
resumed only on the data it was trained on (:func:`musimnet_data_fingerprint`, stored
in every checkpoint): on other tracks, tags or S, or from a checkpoint that records no
fingerprint, the old run's files go to ``out_dir/superseded.<fingerprint prefix>/`` and
a new run starts, with a warning saying why.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ml.data.cache import ContentDigest
from ml.evaluation.similarity import SimilarityScores, evaluate_similarity
from ml.features.cqt import load_log_cqt, random_patches
from ml.losses.triplet import triplet_loss
from ml.models.musimnet import (
    MUSIMNET_KIND,
    MuSimNet,
    MuSimNetConfig,
    embed_tracks,
    input_statistics,
)
from ml.similarity.mining import MiningConfig, mine_triplets
from ml.similarity.tags import TagExpansion, TrackTags, tag_similarity, validate_similarity
from ml.training.checkpoint import (
    DATA_FINGERPRINT,
    read_checkpoint,
    save_checkpoint,
    set_aside_run,
)
from ml.training.metrics import MetricsLog

__all__ = [
    "MUSIMNET_MONITORS",
    "MuSimNetCheckpoint",
    "MuSimNetTrainConfig",
    "MuSimNetTrainingError",
    "TaggedTracks",
    "load_musimnet",
    "musimnet_data_fingerprint",
    "musimnet_from_state",
    "similarity_scores",
    "train_musimnet",
]

BEST_CHECKPOINT = "musimnet_best.pt"
LAST_CHECKPOINT = "musimnet_last.pt"
METRICS_LOG = "musimnet_metrics.jsonl"
# Monitored validation quantity -> True when higher is better.
MUSIMNET_MONITORS: dict[str, bool] = {
    "val_loss": False,
    "val_map": True,
    "val_recall": True,
    "val_rr": True,
    "val_ndcg": True,
}
RUN_FILES = (LAST_CHECKPOINT, BEST_CHECKPOINT, METRICS_LOG)
# Options that may differ between an interrupted run and its resumption.
_RESUMABLE_CHANGES = {"max_epochs", "patience", "progress", "device", "out_dir", "resume"}

logger = logging.getLogger(__name__)


class MuSimNetTrainingError(RuntimeError):
    """Training cannot go on: unusable data, a diverged loss or a mismatched resume."""


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
    with ``resume`` a run finding ``musimnet_last.pt`` there continues from it, if that
    run was trained on the same data (else it is set aside and a new run starts)."""

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
    checkpoint, whatever device trained it), when it was best, the per-epoch history,
    and where it was saved (None without ``out_dir``)."""

    model: MuSimNet
    best_epoch: int
    history: list[dict[str, float]]
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


def _resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise MuSimNetTrainingError(f"device {device!r} requested but CUDA is not available")
    return torch.device(device)


def _epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch])


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


@torch.no_grad()
def _validate(
    model: MuSimNet,
    config: MuSimNetTrainConfig,
    similarity: np.ndarray,
    triplets: np.ndarray,
    device: torch.device,
) -> dict[str, float]:
    model.eval()
    record: dict[str, float] = {}
    if len(triplets):
        rng = _epoch_rng(config.seed, 0)  # epochs count from 1: the same patches every time
        losses = []
        for batch in np.array_split(triplets, math.ceil(len(triplets) / config.batch_size)):
            patches = _triplet_patches(
                config.validation.cqts, batch, config.model.patch_frames, rng
            )
            losses.append(_batch_loss(model, patches.to(device), config.margin).item() * len(batch))
        record["val_loss"] = sum(losses) / len(triplets)
    scores = similarity_scores(
        model, config.validation, similarity, config.eval_patches, config.seed
    )
    record.update(
        val_map=scores.map_at_k,
        val_recall=scores.recall_at_k,
        val_rr=scores.rr_at_k,
        val_ndcg=scores.ndcg_at_k,
    )
    return record


def _improved(value: float, best: float | None, higher_is_better: bool) -> bool:
    if best is None:
        return True
    return value > best if higher_is_better else value < best


def _state(
    model: MuSimNet,
    optimizer: torch.optim.Optimizer,
    config: MuSimNetTrainConfig,
    fingerprint: str,
    epoch: int,
    best: float | None,
    best_epoch: int,
    best_state: dict[str, torch.Tensor],
    history: list[dict[str, float]],
) -> dict[str, Any]:
    return {
        "kind": MUSIMNET_KIND,
        "model_config": config.model.to_dict(),
        "model_state": model.state_dict(),
        "optimizer_state": optimizer.state_dict(),
        "train_config": config.hyperparameters(),
        "epoch": epoch,
        "best_value": best,
        "best_epoch": best_epoch,
        "best_state": best_state,
        "history": history,
        DATA_FINGERPRINT: fingerprint,
    }


def _data_change_reason(saved: dict[str, Any], config: MuSimNetTrainConfig) -> str:
    """Why a checkpoint ``saved`` cannot be resumed on the tracks of ``config``, for the log."""
    old = saved.get("train_config", {})
    was = f"{old.get('n_train_tracks')} + {old.get('n_validation_tracks')}"
    now = f"{len(config.train)} + {len(config.validation)}"
    if not saved.get(DATA_FINGERPRINT):
        return f"the checkpoint does not record which data it was trained on ({was} tracks)"
    return f"the training data changed ({was} -> {now} training + validation tracks)"


def _check_resume(saved: dict[str, Any], config: MuSimNetTrainConfig) -> None:
    now = config.hyperparameters()
    changed = sorted(k for k in now if k not in _RESUMABLE_CHANGES and saved.get(k) != now[k])
    if changed:
        raise MuSimNetTrainingError(
            f"cannot resume: settings changed since the checkpoint: {changed}"
        )


def train_musimnet(config: MuSimNetTrainConfig) -> MuSimNetCheckpoint:
    """Train MuSimNet as configured and return the best model (see the module docstring).

    Raises
    ------
    MuSimNetTrainingError
        If the training S yields no triplet, the loss diverges, or a resume finds a
        checkpoint written with other settings.
    """
    device = _resolve_device(config.device)
    train_s = config.train.similarity_matrix(config.tag_weights, config.tag_expansion)
    val_s = config.validation.similarity_matrix(config.tag_weights, config.tag_expansion)
    triplets = mine_triplets(train_s, **asdict(config.mining))
    if len(triplets) == 0:
        raise MuSimNetTrainingError(
            "the training similarity gives no triplet (no track resembles another)"
        )
    val_triplets = mine_triplets(val_s, **{**asdict(config.mining), "seed": config.mining.seed + 1})
    if len(val_triplets) > config.validation_triplets:
        keep = np.random.default_rng(config.seed).choice(
            len(val_triplets), config.validation_triplets, replace=False
        )
        val_triplets = val_triplets[np.sort(keep)]

    fingerprint = musimnet_data_fingerprint(config.train, config.validation)

    torch.manual_seed(config.seed)
    model = MuSimNet(config.model)
    model.set_input_statistics(*input_statistics(config.train.cqts))
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)

    history: list[dict[str, float]] = []
    best: float | None = None
    best_epoch, start_epoch = 0, 1
    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    log = MetricsLog(config.out_dir / METRICS_LOG) if config.out_dir is not None else None
    last_path = config.out_dir / LAST_CHECKPOINT if config.out_dir is not None else None
    saved = None
    if config.resume and last_path is not None and last_path.exists():
        saved = read_checkpoint(last_path, map_location=device)
    if saved is not None and saved.get(DATA_FINGERPRINT) != fingerprint:
        aside = set_aside_run(last_path.parent, RUN_FILES, saved.get(DATA_FINGERPRINT))
        logger.warning(
            "%s: starting a new run in %s (the previous run is now in %s)",
            _data_change_reason(saved, config),
            last_path.parent,
            aside,
        )
        saved = None
    if saved is not None:
        _check_resume(saved["train_config"], config)
        model.load_state_dict(saved["model_state"])
        optimizer.load_state_dict(saved["optimizer_state"])
        history, best, best_epoch = list(saved["history"]), saved["best_value"], saved["best_epoch"]
        best_state = saved["best_state"]
        start_epoch = saved["epoch"] + 1
        if log is not None:
            log.truncate_after(saved["epoch"])
    elif config.out_dir is not None:  # a new run: no file of an earlier one may remain
        for stale in RUN_FILES:
            (config.out_dir / stale).unlink(missing_ok=True)

    higher_is_better = MUSIMNET_MONITORS[config.monitor]
    for epoch in range(start_epoch, config.max_epochs + 1):
        if epoch - best_epoch > config.patience and best_epoch > 0:
            break
        rng = _epoch_rng(config.seed, epoch)
        torch.manual_seed(int(rng.integers(2**31)))
        picks = rng.choice(
            len(triplets),
            size=config.triplets_per_epoch,
            replace=len(triplets) < config.triplets_per_epoch,
        )
        model.train()
        total, seen = 0.0, 0
        batches = np.array_split(picks, math.ceil(len(picks) / config.batch_size))
        for batch in tqdm(
            batches, desc=f"musimnet epoch {epoch}", disable=not config.progress, leave=False
        ):
            patches = _triplet_patches(
                config.train.cqts, triplets[batch], config.model.patch_frames, rng
            )
            loss = _batch_loss(model, patches.to(device), config.margin)
            if not torch.isfinite(loss):
                raise MuSimNetTrainingError(f"loss diverged at epoch {epoch}")
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
            seen += len(batch)
        record = {
            "epoch": epoch,
            "train_loss": total / seen,
            **_validate(model, config, val_s, val_triplets, device),
        }
        history.append(record)
        if log is not None:
            log.append(record)
        improved = _improved(record[config.monitor], best, higher_is_better)
        if improved:
            best, best_epoch = record[config.monitor], epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if config.out_dir is not None:
            state = _state(
                model, optimizer, config, fingerprint, epoch, best, best_epoch, best_state, history
            )
            if improved:
                save_checkpoint(config.out_dir / BEST_CHECKPOINT, state)
            save_checkpoint(config.out_dir / LAST_CHECKPOINT, state)

    model.load_state_dict(best_state)
    model.cpu().eval()
    best_path = config.out_dir / BEST_CHECKPOINT if config.out_dir is not None else None
    return MuSimNetCheckpoint(model=model, best_epoch=best_epoch, history=history, path=best_path)


def musimnet_from_state(state: dict[str, Any], source: str = "checkpoint") -> MuSimNet:
    """The best model of a read MuSimNet checkpoint (:func:`read_checkpoint`), in eval mode."""
    if state.get("kind") != MUSIMNET_KIND:
        raise MuSimNetTrainingError(f"{source} is not a MuSimNet checkpoint")
    model = MuSimNet(MuSimNetConfig.from_dict(state["model_config"]))
    model.load_state_dict(state["best_state"])
    return model.eval()


def load_musimnet(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
) -> MuSimNet:
    """The best model of a MuSimNet checkpoint, in eval mode."""
    return musimnet_from_state(read_checkpoint(Path(path), map_location), str(path))
