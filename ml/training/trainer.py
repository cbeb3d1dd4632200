"""Training of Seg-VM-Net (segment pairs) and VM-Net (clip pairs) - docs/method.md §3-§4.

Two recipes fit these models (``TrainConfig.recipe``): the published triplet loss,
trained by the one loop, and regularised CCA in closed form (:mod:`ml.training.cca`),
which ranks better from tens of clips (docs/experiments.md). ``auto``, the default,
fits CCA; with :data:`AUTO_COMPARE_VAL_CLIPS` validation clips or more, enough to tell
the two apart, it also trains the triplet recipe (in ``out_dir/triplet``) and keeps the
one whose validation mean rank is lower.

:class:`TwoBranchTask` is what these two kinds bring to the one training loop
(:mod:`ml.training.loop`): load the dataset, build the model and fit its input
normalisation on the training split, the batches of an epoch (Adam on the VM-Net
loss with mined triplets), and the validation loss and video->music retrieval of the
paired row (:func:`ml.training.metrics.paired_retrieval_ranks`). The loop does the
rest: epochs, early stopping on the monitored validation value, ``metrics.jsonl``,
``last.pt`` and ``best.pt``, resuming on the same data and setting aside a run trained
on other data (the dataset's :meth:`VideoMusicDataset.fingerprint`).

:func:`train` is the whole run; it returns the path of ``best.pt``.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ml.data.dataset import SegmentPairs, VideoMusicDataset, load_dataset
from ml.losses.triplet import Triplets
from ml.losses.vmnet import VMNetLossWeights, VMNetTriplets, vmnet_loss
from ml.miners.segments import SegmentTripletMiner
from ml.miners.structure import mine_intra_modal_triplets
from ml.models.pooling import sample_frame_indices
from ml.models.vmnet import TwoBranchConfig, TwoBranchNet, segvmnet_config, vmnet_config
from ml.training.cca import cross_validated_shrinkage, fit_cca, linear_branches
from ml.training.checkpoint import DATA_FINGERPRINT, read_checkpoint, save_checkpoint, set_aside_run
from ml.training.config import TrainConfig
from ml.training.loop import (
    BEST_CHECKPOINT,
    LAST_CHECKPOINT,
    METRICS_LOG,
    RUN_FILES,
    BatchLoss,
    LoopSettings,
    TrainingError,
    mean_terms,
    resolve_device,
    run_training,
    validation_generator,
)
from ml.training.metrics import MetricsLog, paired_retrieval_ranks, retrieval_summary
from ml.training.resume import RunData

# The file names, TrainingError and resolve_device are the loop's, exported here too for
# the callers that have always found them in this module.
__all__ = [
    "AUTO_COMPARE_VAL_CLIPS",
    "BEST_CHECKPOINT",
    "LAST_CHECKPOINT",
    "METRICS_LOG",
    "PairedInputs",
    "TrainingError",
    "TwoBranchTask",
    "fit_cca_run",
    "model_config_for",
    "resolve_device",
    "train",
]

#: ``recipe="auto"`` compares CCA with the triplet recipe from this many validation
#: clips; below, a validation mean rank is too noisy to choose by, and CCA is kept.
AUTO_COMPARE_VAL_CLIPS = 20


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


def _batch_losses(
    model: TwoBranchNet,
    inputs: PairedInputs,
    order: np.ndarray,
    config: TrainConfig,
    rng: np.random.Generator,
    device: torch.device,
) -> Iterator[BatchLoss]:
    """The batches of one pass over ``inputs`` in ``order``, one VM-Net loss each.

    Frames (pooled VM-Net) and triplets are drawn from ``rng``. A batch whose rows all
    come from one clip holds no negative and is skipped. Each batch's loss is computed
    when the caller asks for it, after the steps taken on the batches before.
    """
    music, video = inputs.materialise(rng, device)
    structure = _structure_features(model, music, video)
    miner = SegmentTripletMiner(config.mining, config.negatives_per_anchor, config.margin)
    weights = config.loss_weights()
    for idx in _batches(order, config.batch_size):
        ids = inputs.clip_index[idx]
        if np.unique(ids).size < 2:
            continue  # a batch from a single clip has no negatives
        sel = torch.as_tensor(idx, device=device)
        batch_structure = (structure[0][sel], structure[1][sel])
        terms = _batch_loss(
            model, music[sel], video[sel], batch_structure, ids, miner, weights, rng
        )
        yield BatchLoss(terms.total, terms.as_floats(), len(idx))


def _embed_all(model: TwoBranchNet, music: torch.Tensor, video: torch.Tensor, chunk: int = 4096):
    ms = [model.embed_music(music[i : i + chunk]) for i in range(0, len(music), chunk)]
    vs = [model.embed_video(video[i : i + chunk]) for i in range(0, len(video), chunk)]
    return torch.cat(ms), torch.cat(vs)


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


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return value


class TwoBranchTask:
    """Seg-VM-Net or VM-Net (``config.kind``) on a dataset, for :func:`run_training`.

    Loads the dataset of ``config.dataset_dir`` and prepares the training and
    validation rows; raises :class:`TrainingError` when the validation split has fewer
    than two clips (no retrieval to measure). Checkpoints also hold ``dataset``: the
    dataset's segmentation, extractors, split and clip counts (what export and
    evaluation check a model against).
    """

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.kind = config.kind
        self.dataset = load_dataset(config.dataset_dir)
        self.train_inputs = _split_inputs(self.dataset, "train", config)
        self.val_inputs = _split_inputs(self.dataset, "val", config)
        if np.unique(self.val_inputs.clip_index).size < 2:
            raise TrainingError("the validation split needs at least two clips")
        self.provenance = _dataset_provenance(self.dataset)
        self.data = RunData(self.dataset.fingerprint(), self.provenance["n_clips"], "clips")
        self.settings = LoopSettings(
            out_dir=config.out_dir,
            max_epochs=config.max_epochs,
            patience=config.patience,
            monitor=config.monitor,
            learning_rate=config.learning_rate,
            higher_is_better=False,  # loss and mean rank
            min_delta=config.min_delta,
            weight_decay=config.weight_decay,
            seed=config.seed,
            device=config.device,
            progress=config.progress,
            resume=config.resume,
        )

    def run_config(self) -> dict[str, Any]:
        return {k: _jsonable(v) for k, v in self.config.to_dict().items()}

    def recorded_data_sizes(self, state: Mapping[str, Any]) -> Mapping[str, int] | None:
        return state.get("dataset", {}).get("n_clips")

    def build_model(self) -> TwoBranchNet:
        manifest = self.dataset.manifest
        config = model_config_for(
            self.config, manifest.audio_extractor.dim, manifest.video_extractor.dim
        )
        model = TwoBranchNet(config)
        model.fit_normalization(*self.train_inputs.normalisation_inputs())
        return model

    def batch_losses(
        self, model: TwoBranchNet, rng: np.random.Generator, device: torch.device
    ) -> Iterator[BatchLoss]:
        order = rng.permutation(len(self.train_inputs))
        return _batch_losses(model, self.train_inputs, order, self.config, rng, device)

    def validate(self, model: TwoBranchNet, device: torch.device) -> dict[str, float]:
        """Validation loss and video->music retrieval of the paired row (mean rank,
        its share of the catalog, Recall@1/10), the same draws every epoch."""
        inputs = self.val_inputs
        order = np.arange(len(inputs))
        rng = validation_generator(self.config.seed)
        loss = mean_terms(_batch_losses(model, inputs, order, self.config, rng, device), "validate")
        music, video = inputs.materialise(validation_generator(self.config.seed), device)
        m, v = _embed_all(model, music, video)
        return {**loss, **retrieval_summary(paired_retrieval_ranks(v, m))}

    def checkpoint_extras(self) -> dict[str, Any]:
        return {"dataset": self.provenance}


def fit_cca_run(config: TrainConfig) -> Path:
    """Fit a Seg-VM-Net or an unpooled VM-Net by regularised CCA on the training split;
    the shrinkage by cross-validation over the training clips. Writes ``best.pt`` and a
    one-line ``metrics.jsonl`` (validation as the loop measures it) to ``out_dir``; a
    triplet run found there (its ``last.pt``) is set aside first. Returns ``best.pt``."""
    if config.pooling is not None:
        raise TrainingError("the cca recipe takes fixed vectors; pooling needs triplet")
    began = time.perf_counter()
    task = TwoBranchTask(config)
    train_in = task.train_inputs
    manifest = task.dataset.manifest
    dim = min(manifest.audio_extractor.dim, manifest.video_extractor.dim)
    linear = replace(config, music_hidden=(), video_hidden=(), embedding_dim=dim)
    model = TwoBranchNet(
        model_config_for(linear, manifest.audio_extractor.dim, manifest.video_extractor.dim)
    )
    model.fit_normalization(*train_in.normalisation_inputs())
    shrinkage, cv_ranks = cross_validated_shrinkage(
        np.asarray(train_in.music),
        np.asarray(train_in.video),
        train_in.clip_index,
        seed=config.seed,
    )
    with torch.no_grad():
        music = model.music.normalizer(torch.as_tensor(np.asarray(train_in.music))).double()
        video = model.video.normalizer(torch.as_tensor(np.asarray(train_in.video))).double()
    linear_branches(model, fit_cca(music.numpy(), video.numpy(), shrinkage))
    metrics = {f"val_{k}": v for k, v in task.validate(model, torch.device("cpu")).items()}
    record = {
        "epoch": 0,
        **metrics,
        "best_epoch": 0,
        "improved": True,
        "seconds": round(time.perf_counter() - began, 3),
        "recipe": "cca",
        "cca_shrinkage": shrinkage,
        "cca_cv_mean_rank": {str(k): v for k, v in cv_ranks.items()},
    }
    out = config.out_dir
    if (out / LAST_CHECKPOINT).exists():
        set_aside_run(out, RUN_FILES, read_checkpoint(out / LAST_CHECKPOINT).get(DATA_FINGERPRINT))
    out.mkdir(parents=True, exist_ok=True)
    (out / METRICS_LOG).write_text(json.dumps(record, sort_keys=True) + "\n")
    run_config = task.run_config() | {
        "recipe": "cca",
        "music_hidden": [],
        "video_hidden": [],
        "embedding_dim": dim,
    }
    return save_checkpoint(
        out / BEST_CHECKPOINT,
        {
            "kind": task.kind,
            "model_config": model.config.to_dict(),
            "model_state": model.state_dict(),
            "optimizer_state": {},
            "epoch": 0,
            "best_epoch": 0,
            "best_value": metrics["val_mean_rank"],
            "monitor": "val_mean_rank",
            "metrics": metrics,
            "history": [record],
            "train_config": run_config,
            DATA_FINGERPRINT: task.data.fingerprint,
            **task.checkpoint_extras(),
        },
    )


def _train_triplet(config: TrainConfig) -> Path:
    run = run_training(TwoBranchTask(replace(config, recipe="triplet")))
    assert run.best_path is not None  # a TrainConfig always has an out_dir
    return run.best_path


def _train_auto(config: TrainConfig) -> Path:
    if config.kind != "segvmnet" or config.pooling is not None:
        return _train_triplet(config)
    best = fit_cca_run(config)
    cca = read_checkpoint(best)
    if cca["dataset"]["n_clips"]["val"] < AUTO_COMPARE_VAL_CLIPS:
        return best
    triplet_best = _train_triplet(replace(config, out_dir=config.out_dir / "triplet"))
    triplet = read_checkpoint(triplet_best)
    chosen = "triplet" if triplet["best_value"] < cca["best_value"] else "cca"
    MetricsLog(config.out_dir / METRICS_LOG).append(
        {
            "recipe_chosen": chosen,
            "val_mean_rank_by_recipe": {"cca": cca["best_value"], "triplet": triplet["best_value"]},
        }
    )
    if chosen == "triplet":
        shutil.copyfile(triplet_best, best)
    return best


_RECIPES = {"auto": _train_auto, "cca": fit_cca_run, "triplet": _train_triplet}


def train(config: TrainConfig) -> Path:
    """Fit a VM-Net or Seg-VM-Net by ``config.recipe``; return the path of its best
    checkpoint (``out_dir/best.pt``)."""
    return _RECIPES[config.recipe](config)
