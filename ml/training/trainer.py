"""Training of Seg-VM-Net (segment pairs) and VM-Net (clip pairs) - docs/method.md §3-§4.

:func:`train` is the whole run: load the dataset, build the model, fit the input
normalisation on the training split, then epochs of Adam on the VM-Net loss with
mined triplets, a validation pass after each epoch, early stopping on the monitored
validation metric, a metrics log (``metrics.jsonl``) and two checkpoints
(``last.pt`` for resuming, ``best.pt`` for using). It returns the path of
``best.pt``.

Reproducibility: the model is initialised from ``seed``; every epoch draws its
shuffling, mining and dropout from generators seeded by ``(seed, epoch)``, not from
the state the previous epoch left behind. So a run interrupted after epoch k and
resumed from ``last.pt`` takes exactly the steps an uninterrupted run takes (on
CPU; CUDA kernels are not all deterministic).

A resumed run is the same run: every checkpoint records the fingerprint of the
training data (:meth:`VideoMusicDataset.fingerprint`: the content of the train and
validation splits, wherever the dataset lives). When ``last.pt`` was trained on other
data (clips added or changed, or no fingerprint recorded), its files are moved to
``out_dir/superseded.<fingerprint prefix>/`` and a new run starts, with a warning
saying why: a run never hands back a model trained on other data.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ml.data.dataset import SegmentPairs, VideoMusicDataset, load_dataset
from ml.losses.triplet import Triplets
from ml.losses.vmnet import VMNetLossWeights, VMNetTriplets, vmnet_loss
from ml.miners.segments import SegmentTripletMiner
from ml.miners.structure import mine_intra_modal_triplets
from ml.models.pooling import sample_frame_indices
from ml.models.vmnet import TwoBranchConfig, TwoBranchNet, segvmnet_config, vmnet_config
from ml.training.checkpoint import (
    DATA_FINGERPRINT,
    read_checkpoint,
    save_checkpoint,
    set_aside_run,
)
from ml.training.config import TrainConfig
from ml.training.metrics import MetricsLog, paired_retrieval_ranks, retrieval_summary

__all__ = ["PairedInputs", "TrainingError", "model_config_for", "resolve_device", "train"]

LAST_CHECKPOINT = "last.pt"
BEST_CHECKPOINT = "best.pt"
METRICS_LOG = "metrics.jsonl"
# The files of one run in its out_dir (what a new run on other data sets aside).
RUN_FILES = (LAST_CHECKPOINT, BEST_CHECKPOINT, METRICS_LOG)
# Options that may change between an interrupted run and its resumption.
_RESUMABLE_CHANGES = {
    "max_epochs",
    "patience",
    "progress",
    "device",
    "resume",
    "dataset_dir",
    "out_dir",
}


logger = logging.getLogger(__name__)


class TrainingError(RuntimeError):
    """Training cannot go on: diverged loss, unusable data, or a mismatched resume."""


def resolve_device(device: str) -> torch.device:
    """ "auto" picks CUDA when present; asking for CUDA without one is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise TrainingError(f"device {device!r} requested but CUDA is not available")
    return torch.device(device)


def _epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


@dataclass(frozen=True)
class PairedInputs:
    """The rows a split feeds to the model.

    Either fixed vectors (``music``/``video`` arrays (N, D)), or, for pooled VM-Net,
    one frame sequence per clip (``music``/``video`` lists of (T_i, D)) from which
    :meth:`materialise` draws ``frames_per_clip`` synchronous frames per epoch.
    """

    music: np.ndarray | list[np.ndarray]
    video: np.ndarray | list[np.ndarray]
    clip_index: np.ndarray
    frames_per_clip: int | None = None

    def __len__(self) -> int:
        return len(self.clip_index)

    @property
    def is_sequences(self) -> bool:
        return self.frames_per_clip is not None

    def materialise(
        self, rng: np.random.Generator, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_sequences:
            music, video = np.asarray(self.music), np.asarray(self.video)
        else:
            picks = [sample_frame_indices(len(m), self.frames_per_clip, rng) for m in self.music]
            music = np.stack([m[i] for m, i in zip(self.music, picks, strict=True)])
            video = np.stack([v[i] for v, i in zip(self.video, picks, strict=True)])
        return (
            torch.as_tensor(music, dtype=torch.float32, device=device),
            torch.as_tensor(video, dtype=torch.float32, device=device),
        )

    def normalisation_inputs(self) -> tuple[np.ndarray, np.ndarray]:
        """The vectors whose statistics the model's input normaliser stores."""
        if not self.is_sequences:
            return np.asarray(self.music), np.asarray(self.video)
        return np.concatenate(self.music), np.concatenate(self.video)


def _split_inputs(dataset: VideoMusicDataset, split: str, config: TrainConfig) -> PairedInputs:
    if config.kind == "segvmnet":
        pairs: SegmentPairs = dataset.segment_pairs(split)
        return PairedInputs(pairs.music, pairs.video, pairs.clip_index)
    if config.pooling is None:
        pairs = dataset.clip_pairs(split)
        return PairedInputs(pairs.music, pairs.video, pairs.clip_index)
    music, video = dataset.clip_frames(split)
    return PairedInputs(music, video, np.arange(len(music)), config.frames_per_clip)


def model_config_for(config: TrainConfig, music_dim: int, video_dim: int) -> TwoBranchConfig:
    common = {
        "embedding_dim": config.embedding_dim,
        "music_hidden": config.music_hidden,
        "video_hidden": config.video_hidden,
        "dropout": config.dropout,
    }
    if config.kind == "segvmnet":
        return segvmnet_config(music_dim, video_dim, **common)
    return vmnet_config(music_dim, video_dim, pooling=config.pooling, **common)


def _batches(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    # Near-equal batches instead of a ragged last one: a batch of one row would break
    # batch norm and could not hold a negative.
    return np.array_split(order, max(1, math.ceil(len(order) / batch_size)))


def _structure_features(model: TwoBranchNet, music: torch.Tensor, video: torch.Tensor):
    """Inputs as the model sees them (normalised; time-averaged for sequences)."""
    with torch.no_grad():
        m, v = model.music.normalizer(music), model.video.normalizer(video)
        if m.dim() == 3:
            m, v = m.mean(dim=1), v.mean(dim=1)
    return m, v


def _intra_modal(features: torch.Tensor, ids: np.ndarray, rng: np.random.Generator, weight: float):
    if weight <= 0:
        return None
    if np.unique(ids).size < 3:
        return Triplets([], [], [])
    return mine_intra_modal_triplets(features, ids, rng)


def _batch_loss(
    model: TwoBranchNet,
    music: torch.Tensor,
    video: torch.Tensor,
    structure: tuple[torch.Tensor, torch.Tensor],
    ids: np.ndarray,
    miner: SegmentTripletMiner,
    weights: VMNetLossWeights,
    rng: np.random.Generator,
):
    m = model.embed_music(music)
    v = model.embed_video(video)
    vm, mv = miner.mine(ids, rng, m.detach(), v.detach())
    triplets = VMNetTriplets(
        vm,
        mv,
        _intra_modal(structure[1], ids, rng, weights.video_video),
        _intra_modal(structure[0], ids, rng, weights.music_music),
    )
    return vmnet_loss(m, v, triplets, weights)


def _run_batches(
    model: TwoBranchNet,
    inputs: PairedInputs,
    order: np.ndarray,
    config: TrainConfig,
    rng: np.random.Generator,
    device: torch.device,
    optimizer: torch.optim.Optimizer | None,
    description: str,
) -> dict[str, float]:
    """One pass; trains when an optimiser is given, else only measures the loss."""
    music, video = inputs.materialise(rng, device)
    structure = _structure_features(model, music, video)
    miner = SegmentTripletMiner(config.mining, config.negatives_per_anchor, config.margin)
    weights = config.loss_weights()
    totals: dict[str, float] = {}
    rows = 0
    bar = tqdm(
        _batches(order, config.batch_size),
        desc=description,
        disable=not config.progress,
        leave=False,
        unit="batch",
    )
    for idx in bar:
        ids = inputs.clip_index[idx]
        if np.unique(ids).size < 2:
            continue  # a batch from a single clip has no negatives
        sel = torch.as_tensor(idx, device=device)
        batch_structure = (structure[0][sel], structure[1][sel])
        if optimizer is None:
            with torch.no_grad():
                terms = _batch_loss(
                    model, music[sel], video[sel], batch_structure, ids, miner, weights, rng
                )
        else:
            terms = _batch_loss(
                model, music[sel], video[sel], batch_structure, ids, miner, weights, rng
            )
            if not torch.isfinite(terms.total):
                raise TrainingError(f"{description}: loss became {float(terms.total)}")
            optimizer.zero_grad(set_to_none=True)
            terms.total.backward()
            optimizer.step()
        for key, value in terms.as_floats().items():
            totals[key] = totals.get(key, 0.0) + value * len(idx)
        rows += len(idx)
        bar.set_postfix(loss=f"{totals['loss'] / rows:.4f}")
    if rows == 0:
        raise TrainingError(f"{description}: no batch held rows from two different clips")
    return {key: value / rows for key, value in totals.items()}


@torch.no_grad()
def _embed_all(model: TwoBranchNet, music: torch.Tensor, video: torch.Tensor, chunk: int = 4096):
    ms = [model.embed_music(music[i : i + chunk]) for i in range(0, len(music), chunk)]
    vs = [model.embed_video(video[i : i + chunk]) for i in range(0, len(video), chunk)]
    return torch.cat(ms), torch.cat(vs)


def _validate(
    model: TwoBranchNet, inputs: PairedInputs, config: TrainConfig, device: torch.device
) -> dict[str, float]:
    """Validation loss and video->music retrieval of the paired row, same draws each epoch."""
    model.eval()
    loss = _run_batches(
        model,
        inputs,
        np.arange(len(inputs)),
        config,
        np.random.default_rng([config.seed, 0x7A11D]),
        device,
        optimizer=None,
        description="validate",
    )
    music, video = inputs.materialise(np.random.default_rng([config.seed, 0x7A11D]), device)
    m, v = _embed_all(model, music, video)
    retrieval = retrieval_summary(paired_retrieval_ranks(v, m))
    return {f"val_{k}": val for k, val in {**loss, **retrieval}.items()}


def _dataset_provenance(dataset: VideoMusicDataset) -> dict[str, Any]:
    manifest = dataset.manifest
    return {
        "segmentation": manifest.segmentation,
        "audio_extractor": asdict(manifest.audio_extractor),
        "video_extractor": asdict(manifest.video_extractor),
        "split_seed": manifest.split_seed,
        "split_fractions": list(manifest.split_fractions),
        "n_clips": {s: len(dataset.clip_ids(s)) for s in ("train", "val", "test")},
        "versions": dict(manifest.versions),
    }


def _describe_clip_counts(n_clips: dict[str, int]) -> str:
    """ "96 clips: 82 train, 14 val" from per-split counts (test left out of the detail)."""
    total = sum(n_clips.values())
    return f"{total} clips: {n_clips.get('train', 0)} train, {n_clips.get('val', 0)} val"


def _data_change_reason(saved: dict[str, Any], provenance: dict[str, Any]) -> str:
    """Why a checkpoint ``saved`` cannot be resumed on the data of ``provenance``
    (:func:`_dataset_provenance` of the current dataset), for the log."""
    new = provenance["n_clips"]
    old = saved.get("dataset", {}).get("n_clips")
    if not saved.get(DATA_FINGERPRINT):
        was = f" ({_describe_clip_counts(old)})" if old else ""
        return f"the checkpoint does not record which data it was trained on{was}"
    if not old:
        return f"the training data changed (now {_describe_clip_counts(new)})"
    return (
        f"the training data changed ({sum(old.values())} -> {sum(new.values())} clips; "
        f"{old.get('train', 0)} train, {old.get('val', 0)} val -> "
        f"{new.get('train', 0)} train, {new.get('val', 0)} val)"
    )


def _check_resumable(saved: dict[str, Any], config: TrainConfig, path: Path) -> None:
    current = {k: _jsonable(v) for k, v in config.to_dict().items()}
    differing = sorted(
        k for k in current if k not in _RESUMABLE_CHANGES and saved.get(k) != current[k]
    )
    if differing:
        raise TrainingError(
            f"{path} was written by a run with other options ({', '.join(differing)}); "
            "use another out_dir or resume=False"
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return value


def train(config: TrainConfig) -> Path:
    """Train a VM-Net or Seg-VM-Net; return the path of the best checkpoint."""
    device = resolve_device(config.device)
    dataset = load_dataset(config.dataset_dir)
    train_inputs = _split_inputs(dataset, "train", config)
    val_inputs = _split_inputs(dataset, "val", config)
    if np.unique(val_inputs.clip_index).size < 2:
        raise TrainingError("the validation split needs at least two clips")
    music_dim = dataset.manifest.audio_extractor.dim
    video_dim = dataset.manifest.video_extractor.dim

    torch.manual_seed(config.seed)
    model = TwoBranchNet(model_config_for(config, music_dim, video_dim))
    model.fit_normalization(*train_inputs.normalisation_inputs())
    model.to(device)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )

    out = config.out_dir
    out.mkdir(parents=True, exist_ok=True)
    last_path, best_path = out / LAST_CHECKPOINT, out / BEST_CHECKPOINT
    log = MetricsLog(out / METRICS_LOG)
    provenance = _dataset_provenance(dataset)
    fingerprint = dataset.fingerprint()
    start_epoch, best_metric, best_epoch, bad_epochs = 0, math.inf, -1, 0
    state = read_checkpoint(last_path, device) if config.resume and last_path.exists() else None
    if state is not None and state.get(DATA_FINGERPRINT) != fingerprint:
        aside = set_aside_run(out, RUN_FILES, state.get(DATA_FINGERPRINT))
        logger.warning(
            "%s: starting a new run in %s (the previous run is now in %s)",
            _data_change_reason(state, provenance),
            out,
            aside,
        )
        state = None
    if state is not None:
        _check_resumable(state["train_config"], config, last_path)
        model.load_state_dict(state["model_state"])
        optimizer.load_state_dict(state["optimizer_state"])
        start_epoch = state["epoch"] + 1
        best_metric, best_epoch = state["best_metric"], state["best_epoch"]
        bad_epochs = state["epochs_without_improvement"]
        log.truncate_after(state["epoch"])
    else:
        for stale in (last_path, best_path, log.path):
            stale.unlink(missing_ok=True)

    for epoch in range(start_epoch, config.max_epochs):
        if bad_epochs >= config.patience:
            break
        began = time.perf_counter()
        torch.manual_seed(_epoch_seed(config.seed, epoch))
        rng = np.random.default_rng([config.seed, epoch])
        model.train()
        train_stats = _run_batches(
            model,
            train_inputs,
            rng.permutation(len(train_inputs)),
            config,
            rng,
            device,
            optimizer,
            description=f"epoch {epoch + 1}/{config.max_epochs}",
        )
        val_stats = _validate(model, val_inputs, config, device)
        metric = val_stats[config.monitor]
        improved = metric < best_metric - config.min_delta
        if improved:
            best_metric, best_epoch, bad_epochs = metric, epoch, 0
        else:
            bad_epochs += 1
        log.append(
            {
                "epoch": epoch,
                **{f"train_{k}": v for k, v in train_stats.items()},
                **val_stats,
                "best_epoch": best_epoch,
                "improved": improved,
                "seconds": round(time.perf_counter() - began, 3),
            }
        )
        state = {
            "kind": config.kind,
            "model_config": model.config.to_dict(),
            "model_state": model.state_dict(),
            "optimizer_state": optimizer.state_dict(),
            "epoch": epoch,
            "best_metric": best_metric,
            "best_epoch": best_epoch,
            "epochs_without_improvement": bad_epochs,
            "monitor": config.monitor,
            "metrics": {**{f"train_{k}": v for k, v in train_stats.items()}, **val_stats},
            "train_config": {k: _jsonable(v) for k, v in config.to_dict().items()},
            "dataset": provenance,
            DATA_FINGERPRINT: fingerprint,
        }
        if improved:
            save_checkpoint(best_path, state)
        save_checkpoint(last_path, state)
    if not best_path.exists():
        raise TrainingError(f"no epoch improved {config.monitor}; nothing to return")
    return best_path
