"""The one training loop, for every model kind (Seg-VM-Net, VM-Net, MuSimNet).

:func:`run_training` takes a :class:`TrainingTask` (what differs between model kinds:
the model, the batches and loss of an epoch, the validation metrics, what else goes
in a checkpoint) and does everything else the same way for all of them:

- **device**: :func:`resolve_device` ("auto" picks CUDA when present; asking for CUDA
  without one is an error);
- **optimiser**: Adam with the task's learning rate and weight decay;
- **epochs** are numbered from 0 (epoch ``k`` is the ``k + 1``-th); every epoch draws
  its shuffling, sampling and mining from ``numpy.random.default_rng([seed, epoch])``
  and seeds torch (dropout) from ``(seed, epoch)`` too, never from what the previous
  epoch left behind; validation draws from its own fixed stream
  (:func:`validation_generator`), the same every epoch;
- **early stopping** on one monitored validation value (:mod:`ml.training.stopping`);
- **files** in ``out_dir`` (when the task has one): ``metrics.jsonl`` (one JSON line
  per epoch), ``last.pt`` (written after every epoch, for resuming) and ``best.pt``
  (written when the monitored value improves, for using);
- **resume**: a run finding ``last.pt`` goes on from it when it was trained on the same
  data (the checkpoint's ``data_fingerprint``) with the same settings
  (:mod:`ml.training.resume`); on other data its files are moved to
  ``out_dir/superseded.<fingerprint prefix>/`` and a new run starts, with a warning
  saying why, so a run never hands back a model trained on other data.

So a run interrupted after epoch ``k`` and resumed takes exactly the steps an
uninterrupted run takes (on CPU; CUDA kernels are not all deterministic).

Every checkpoint holds ``kind``, ``model_config``, ``model_state``,
``optimizer_state``, ``epoch``, ``best_epoch``, ``best_value``, ``monitor``,
``metrics`` (this epoch's ``train_*`` and ``val_*`` values), ``history`` (every
epoch's log record so far), ``train_config`` (the task's settings),
``data_fingerprint``, and the task's own keys (:meth:`TrainingTask.checkpoint_extras`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ml.training.checkpoint import (
    DATA_FINGERPRINT,
    read_checkpoint,
    save_checkpoint,
    set_aside_run,
)
from ml.training.metrics import MetricsLog
from ml.training.resume import RunData, data_change_reason, differing_settings
from ml.training.stopping import EarlyStopping

__all__ = [
    "BEST_CHECKPOINT",
    "LAST_CHECKPOINT",
    "METRICS_LOG",
    "RUN_FILES",
    "BatchLoss",
    "LoopSettings",
    "TrainingError",
    "TrainingRun",
    "TrainingTask",
    "epoch_generator",
    "epoch_torch_seed",
    "mean_terms",
    "resolve_device",
    "run_training",
    "validation_generator",
]

LAST_CHECKPOINT = "last.pt"
BEST_CHECKPOINT = "best.pt"
METRICS_LOG = "metrics.jsonl"
# The files of one run in its out_dir (what a new run on other data sets aside).
RUN_FILES = (LAST_CHECKPOINT, BEST_CHECKPOINT, METRICS_LOG)
# The second seed word of the validation stream (no epoch number reaches it).
VALIDATION_STREAM = 0x7A11D

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


def epoch_generator(seed: int, epoch: int) -> np.random.Generator:
    """The generator of every draw of epoch ``epoch`` (0-based) of a run seeded ``seed``."""
    return np.random.default_rng([seed, epoch])


def epoch_torch_seed(seed: int, epoch: int) -> int:
    """The torch seed (dropout) of epoch ``epoch``: a 32-bit word derived from
    ``(seed, epoch)``, independent of :func:`epoch_generator`'s stream."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def validation_generator(seed: int) -> np.random.Generator:
    """A fresh generator for validation draws: the same every epoch, so validation
    values differ between epochs only by the model."""
    return np.random.default_rng([seed, VALIDATION_STREAM])


@dataclass(frozen=True)
class LoopSettings:
    """What the loop needs of a task's configuration.

    ``out_dir`` None trains in memory (no log, no checkpoints, no resume).
    ``monitor`` names a validation value (``val_*``); ``higher_is_better`` says which
    way it improves; an improvement must exceed ``min_delta``.
    """

    out_dir: Path | None
    max_epochs: int
    patience: int
    monitor: str
    learning_rate: float
    higher_is_better: bool = False
    min_delta: float = 0.0
    weight_decay: float = 0.0
    seed: int = 0
    device: str = "auto"
    progress: bool = True
    resume: bool = True


@dataclass
class BatchLoss:
    """The loss of one batch, as a task yields it to the loop.

    ``total`` is the scalar tensor the loop differentiates; ``terms`` its value and
    those of its parts as floats (``"loss"`` and e.g. ``"loss_vm"``), each a mean over
    the batch's ``rows`` (rows, pairs or triplets: the batch's weight in the epoch's
    mean).
    """

    total: torch.Tensor
    terms: dict[str, float]
    rows: int


@dataclass
class _TermMeans:
    """Running row-weighted means of the terms of a sequence of batches."""

    totals: dict[str, float] = field(default_factory=dict)
    rows: int = 0

    def add(self, batch: BatchLoss) -> None:
        for key, value in batch.terms.items():
            self.totals[key] = self.totals.get(key, 0.0) + value * batch.rows
        self.rows += batch.rows

    def means(self) -> dict[str, float]:
        return {key: value / self.rows for key, value in self.totals.items()}


def mean_terms(batches: Iterable[BatchLoss], description: str) -> dict[str, float]:
    """Row-weighted means of the terms of ``batches`` (a validation pass: the caller
    holds ``torch.no_grad``). Raises :class:`TrainingError` when there is no batch."""
    means = _TermMeans()
    for batch in batches:
        means.add(batch)
    if means.rows == 0:
        raise TrainingError(f"{description}: no batch to compute a loss on")
    return means.means()


class TrainingTask(Protocol):
    """What one model kind brings to the loop; everything else is the loop's.

    A task is built from its run configuration and holds the prepared data (loaded,
    split, mined: the same for every epoch).
    """

    #: Written as the checkpoints' ``kind`` (the exporter is chosen by it).
    kind: str
    settings: LoopSettings
    data: RunData

    def run_config(self) -> dict[str, Any]:
        """The JSON-ready settings of the run, stored as ``train_config`` and compared
        on resume (:func:`ml.training.resume.differing_settings`)."""
        ...

    def recorded_data_sizes(self, state: Mapping[str, Any]) -> Mapping[str, int] | None:
        """The split sizes a checkpoint of this kind records (for log lines), or None."""
        ...

    def build_model(self) -> nn.Module:
        """A new model on the CPU, input statistics fitted on the training data; its
        ``config.to_dict()`` is stored as ``model_config``. Called after the loop
        seeded torch with the run's seed, so the initial weights are reproducible."""
        ...

    def batch_losses(
        self, model: nn.Module, rng: np.random.Generator, device: torch.device
    ) -> Iterator[BatchLoss]:
        """The training batches of one epoch, drawn from ``rng``, one loss each.

        A generator: the loop takes a step after each batch before asking for the
        next one, so every batch sees the weights the previous steps left.
        """
        ...

    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        """Validation values (names without the ``val_`` prefix the loop adds), the
        model in eval mode and gradients off. Draws come from
        :func:`validation_generator`."""
        ...

    def checkpoint_extras(self) -> dict[str, Any]:
        """Further keys every checkpoint of this kind holds (e.g. data provenance)."""
        ...


@dataclass
class TrainingRun:
    """The outcome of :func:`run_training`.

    ``model`` holds the weights of ``best_epoch``, in eval mode on the CPU (whatever
    device trained it); ``history`` has one record per epoch trained (the lines of
    ``metrics.jsonl``); ``best_path`` is ``out_dir/best.pt`` (None without ``out_dir``).
    """

    model: nn.Module
    best_epoch: int
    history: list[dict[str, Any]]
    best_path: Path | None


def _cpu_copy(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _saved_best(state: Mapping[str, Any]) -> tuple[float | None, int]:
    """Best value and epoch of a checkpoint (``best_metric`` before the loops were one;
    an infinite value meant none)."""
    value = state.get("best_value", state.get("best_metric"))
    if value is not None and not math.isfinite(value):
        value = None
    return value, int(state.get("best_epoch", -1))


def _resumable_state(
    task: TrainingTask, out_dir: Path, device: torch.device
) -> dict[str, Any] | None:
    """The ``last.pt`` this run goes on from, or None for a new run.

    A checkpoint of other data is set aside (with a warning); one of other settings
    raises :class:`TrainingError`. A new run deletes what an earlier run left.
    """
    last_path = out_dir / LAST_CHECKPOINT
    state = None
    if task.settings.resume and last_path.exists():
        state = read_checkpoint(last_path, device)
    if state is not None and state.get(DATA_FINGERPRINT) != task.data.fingerprint:
        aside = set_aside_run(out_dir, RUN_FILES, state.get(DATA_FINGERPRINT))
        reason = data_change_reason(state, task.recorded_data_sizes(state), task.kind, task.data)
        logger.warning(
            "%s: starting a new run in %s (the previous run is now in %s)", reason, out_dir, aside
        )
        state = None
    if state is None:
        for stale in RUN_FILES:
            (out_dir / stale).unlink(missing_ok=True)
        return None
    differing = differing_settings(state["train_config"], task.run_config())
    if differing:
        raise TrainingError(
            f"{last_path} was written by a run with other options ({', '.join(differing)}); "
            "use another out_dir or resume=False"
        )
    return state


def _train_epoch(
    task: TrainingTask,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    epoch: int,
    device: torch.device,
) -> dict[str, float]:
    """One epoch of steps; the row-weighted mean of each loss term."""
    settings = task.settings
    torch.manual_seed(epoch_torch_seed(settings.seed, epoch))
    rng = epoch_generator(settings.seed, epoch)
    model.train()
    description = f"{task.kind} epoch {epoch + 1}/{settings.max_epochs}"
    means = _TermMeans()
    bar = tqdm(
        task.batch_losses(model, rng, device),
        desc=description,
        disable=not settings.progress,
        leave=False,
        unit="batch",
    )
    for batch in bar:
        if not torch.isfinite(batch.total):
            raise TrainingError(f"{description}: loss became {float(batch.total)}")
        optimizer.zero_grad(set_to_none=True)
        batch.total.backward()
        optimizer.step()
        means.add(batch)
        bar.set_postfix(loss=f"{means.totals['loss'] / means.rows:.4f}")
    if means.rows == 0:
        raise TrainingError(f"{description}: no batch to train on")
    return means.means()


def run_training(task: TrainingTask) -> TrainingRun:
    """Train ``task``'s model as the module docstring says; return the best epoch's.

    Raises
    ------
    TrainingError
        If CUDA is asked for and missing, the loss diverges, an epoch has no batch,
        ``last.pt`` was written with other settings, or no epoch improved the monitor.
    """
    settings = task.settings
    device = resolve_device(settings.device)
    torch.manual_seed(settings.seed)
    model = task.build_model().to(device)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    stopping = EarlyStopping(
        settings.monitor, settings.patience, settings.higher_is_better, settings.min_delta
    )
    out = settings.out_dir
    log = MetricsLog(out / METRICS_LOG) if out is not None else None
    best_path = out / BEST_CHECKPOINT if out is not None else None
    history: list[dict[str, Any]] = []
    best_weights: dict[str, torch.Tensor] | None = None
    start_epoch = 0
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        saved = _resumable_state(task, out, device)
        if saved is not None:
            model.load_state_dict(saved["model_state"])
            optimizer.load_state_dict(saved["optimizer_state"])
            start_epoch = saved["epoch"] + 1
            stopping.best_value, stopping.best_epoch = _saved_best(saved)
            log.truncate_after(saved["epoch"])
            history = list(saved["history"]) if "history" in saved else log.read()
            if best_path.exists():
                best_weights = read_checkpoint(best_path)["model_state"]

    for epoch in range(start_epoch, settings.max_epochs):
        if stopping.should_stop(epoch):
            break
        began = time.perf_counter()
        train_terms = _train_epoch(task, model, optimizer, epoch, device)
        model.eval()
        with torch.no_grad():
            val_terms = task.validate(model, device)
        metrics = {
            **{f"train_{k}": v for k, v in train_terms.items()},
            **{f"val_{k}": v for k, v in val_terms.items()},
        }
        if settings.monitor not in metrics:
            raise TrainingError(f"validation gave no {settings.monitor} (got {sorted(metrics)})")
        improved = stopping.update(epoch, metrics[settings.monitor])
        record = {
            "epoch": epoch,
            **metrics,
            "best_epoch": stopping.best_epoch,
            "improved": improved,
            "seconds": round(time.perf_counter() - began, 3),
        }
        history.append(record)
        if improved:
            best_weights = _cpu_copy(model)
        if out is None:
            continue
        log.append(record)
        state = {
            "kind": task.kind,
            "model_config": model.config.to_dict(),
            "model_state": model.state_dict(),
            "optimizer_state": optimizer.state_dict(),
            "epoch": epoch,
            "best_epoch": stopping.best_epoch,
            "best_value": stopping.best_value,
            "monitor": settings.monitor,
            "metrics": metrics,
            "history": list(history),
            "train_config": task.run_config(),
            DATA_FINGERPRINT: task.data.fingerprint,
            **task.checkpoint_extras(),
        }
        if improved:
            save_checkpoint(best_path, state)
        save_checkpoint(out / LAST_CHECKPOINT, state)

    if best_weights is None:
        raise TrainingError(f"no epoch improved {settings.monitor}; nothing to return")
    model.load_state_dict(best_weights)
    return TrainingRun(model.cpu().eval(), stopping.best_epoch, history, best_path)
