"""Checkpoints: the whole state of a run, written atomically.

A checkpoint holds the model configuration and weights (input normalisation
included), the optimiser state, the epoch, the early-stopping state, the training
configuration and the dataset's provenance (segmentation, extractors). That is what
resuming needs, and what export needs to write a model-registry entry.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ml.models.vmnet import TwoBranchConfig, TwoBranchNet

__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointError",
    "load_model",
    "read_checkpoint",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = 1


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
