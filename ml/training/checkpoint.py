"""Checkpoints: the whole state of a run, written atomically.

A checkpoint holds the model configuration and weights (input normalisation
included), the optimiser state, the epoch, the early-stopping state, the training
configuration and the dataset's provenance (segmentation, extractors), and the
fingerprint of the training data (``data_fingerprint``). That is what resuming needs,
and what export needs to write a model-registry entry.

A run is resumed only on the data it was trained on: when the fingerprint in
``last.pt`` is not the current data's (or is missing: an older checkpoint), the old
run's files are moved aside by :func:`set_aside_run` and a new run starts.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from ml.models.vmnet import TwoBranchConfig, TwoBranchNet

__all__ = [
    "CHECKPOINT_FORMAT",
    "DATA_FINGERPRINT",
    "CheckpointError",
    "load_model",
    "read_checkpoint",
    "save_checkpoint",
    "set_aside_run",
    "superseded_dir_name",
]

CHECKPOINT_FORMAT = 1
# Key of a checkpoint's training-data fingerprint (64 hex digits).
DATA_FINGERPRINT = "data_fingerprint"


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable or of an unknown format."""


def save_checkpoint(path: Path, state: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save({"format": CHECKPOINT_FORMAT, **state}, tmp)
    os.replace(tmp, path)
    return path


def read_checkpoint(path: Path | str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        # Plain containers and tensors only: never unpickle code from a file.
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several unrelated types for bad files
        raise CheckpointError(f"unreadable checkpoint {path}: {exc}") from exc
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a v2m checkpoint of format {CHECKPOINT_FORMAT}")
    return state


def load_model(path: Path | str, map_location: str | torch.device = "cpu") -> TwoBranchNet:
    """The trained model of a checkpoint, in eval mode."""
    state = read_checkpoint(path, map_location)
    model = TwoBranchNet(TwoBranchConfig.from_dict(state["model_config"]))
    model.load_state_dict(state["model_state"])
    return model.eval()


def superseded_dir_name(fingerprint: str | None) -> str:
    """Folder name for a run trained on the data of ``fingerprint``: ``superseded.``
    and the first 12 hex digits, or ``superseded.unknown-data`` when none was recorded."""
    return f"superseded.{fingerprint[:12] if fingerprint else 'unknown-data'}"


def set_aside_run(out_dir: Path, names: Iterable[str], fingerprint: str | None) -> Path:
    """Move a run's files ``names`` (those present) from ``out_dir`` into a new folder
    inside it named by :func:`superseded_dir_name` (``-2``, ``-3``... when taken); other
    files of ``out_dir`` are left alone. Returns the folder."""
    base = out_dir / superseded_dir_name(fingerprint)
    target, n = base, 1
    while target.exists():
        n += 1
        target = base.with_name(f"{base.name}-{n}")
    target.mkdir(parents=True)
    for name in names:
        if (out_dir / name).exists():
            os.replace(out_dir / name, target / name)
    return target
