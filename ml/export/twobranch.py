"""ONNX export of a trained VM-Net / Seg-VM-Net (two branches) and its registry entry.

Each branch becomes one ONNX file that maps raw features to L2-normalised
embeddings: the input normalisation, (for pooled VM-Net) the pooling layer, the MLP,
the batch norm (frozen to its running statistics) and the L2 norm are all inside the
graph, so serving needs no PyTorch and no side files.

- input ``features``: float32 ``(batch, dim)``, or ``(batch, time, dim)`` for a
  pooled branch; output ``embedding``: float32 ``(batch, d)``.
- :func:`export_model` writes ``music.onnx``, ``video.onnx`` and ``model.json``;
  before it writes the entry it checks that ONNX Runtime reproduces PyTorch to
  ``PARITY_TOLERANCE`` and records the worst difference it saw.
- :class:`TwoBranchExport` is the kind's entry in :data:`ml.export.kinds.EXPORT_KINDS`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ml.data.cache import file_sha256
from ml.export.common import (
    OUTPUT_NAME,
    ExportKind,
    OnnxEncoder,
    entry_provenance,
    parity_error,
    require_parity,
    write_onnx,
    write_registry_entry,
)
from ml.models.vmnet import MODEL_KINDS, ProjectionBranch, TwoBranchNet
from ml.training.checkpoint import load_model, read_checkpoint

__all__ = [
    "INPUT_NAME",
    "TwoBranchExport",
    "export_branch",
    "export_model",
    "export_twobranch_checkpoint",
]

INPUT_NAME = "features"


def _example_input(branch: ProjectionBranch, batch: int = 2, time: int = 5) -> torch.Tensor:
    dim = branch.config.input_dim
    shape = (batch, time, dim) if branch.takes_sequences else (batch, dim)
    return torch.zeros(shape)


def export_branch(branch: ProjectionBranch, path: Path | str) -> Path:
    """Write one branch (in eval mode) as an ONNX file with dynamic batch (and time)."""
    dynamic = {0: "batch", 1: "time"} if branch.takes_sequences else {0: "batch"}
    return write_onnx(
        branch, _example_input(branch), path, input_name=INPUT_NAME, dynamic_axes=dynamic
    )


def _parity_inputs(branch: ProjectionBranch, rng: np.random.Generator) -> np.ndarray:
    """Inputs spread like the training data (from the stored statistics) plus outliers."""
    mean = branch.normalizer.mean.detach().cpu().numpy()
    std = branch.normalizer.std.detach().cpu().numpy()
    shape = (16, 7, len(mean)) if branch.takes_sequences else (16, len(mean))
    x = mean + std * rng.normal(size=shape)
    x[0] = mean + 4.0 * std  # far tail: the batch norm / L2 path at large activations
    return x.astype(np.float32)


def _max_parity_error(branch: ProjectionBranch, encoder: OnnxEncoder, seed: int = 0) -> float:
    return parity_error(branch, encoder, _parity_inputs(branch, np.random.default_rng(seed)))


def _branch_entry(branch: ProjectionBranch, file: Path, parity: float) -> dict[str, Any]:
    config = branch.config
    return {
        "file": file.name,
        "sha256": file_sha256(file),
        "input_name": INPUT_NAME,
        "output_name": OUTPUT_NAME,
        "input_dim": config.input_dim,
        "input_layout": "batch,time,dim" if branch.takes_sequences else "batch,dim",
        "pooling": config.pooling,
        "hidden_dims": list(config.hidden_dims),
        "output_dim": config.output_dim,
        "normalisation": {
            "mean": branch.normalizer.mean.detach().cpu().double().tolist(),
            "std": branch.normalizer.std.detach().cpu().double().tolist(),
        },
        "parity_max_abs_error": parity,
    }


#: The reference queries an export carries for the hubness correction (CSLS) and the
#: 0-100 match score: at most this many, the first of the training set's order.
MAX_BANK_QUERIES = 256
BANK_FILE = "bank.npz"


def embed_query_bank(model: TwoBranchNet, sequences: list[np.ndarray]) -> list[np.ndarray]:
    """The video branch's ``(K_i, d)`` embeddings of ``(K_i, D)`` segment-vector sequences
    (at most :data:`MAX_BANK_QUERIES` of them)."""
    model.eval()
    with torch.no_grad():
        return [
            model.embed_video(torch.from_numpy(np.asarray(x, np.float32))).numpy()
            for x in sequences[:MAX_BANK_QUERIES]
        ]


def _write_bank(out: Path, bank: list[np.ndarray], source: str) -> dict[str, Any]:
    vectors = np.concatenate(bank).astype(np.float32)
    offsets = np.concatenate([[0], np.cumsum([len(q) for q in bank])]).astype(np.int64)
    path = out / BANK_FILE
    np.savez(path, vectors=vectors, offsets=offsets)
    return {"file": BANK_FILE, "sha256": file_sha256(path), "queries": len(bank), "source": source}


def export_model(
    model: TwoBranchNet,
    out_dir: Path | str,
    *,
    name: str,
    provenance: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    frames_per_clip: int | None = None,
    bank: list[np.ndarray] | None = None,
    bank_source: str = "",
) -> Path:
    """Export both branches of ``model`` to ``out_dir`` and write its registry entry.

    ``provenance`` describes the data (segmentation, extractors: what a dataset
    manifest or checkpoint records); ``training`` the run; ``frames_per_clip`` how
    many frames a pooled branch was trained with (serving should draw as many);
    ``bank`` the embedded reference queries (:func:`embed_query_bank`), written to
    ``bank.npz`` and described by ``bank_source``. Raises
    :class:`ExportError` when ONNX Runtime and PyTorch differ by more than
    ``PARITY_TOLERANCE`` on either branch.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.eval()
    branches: dict[str, Any] = {}
    for modality, branch in (("music", model.music), ("video", model.video)):
        path = export_branch(branch, out / f"{modality}.onnx")
        parity = require_parity(
            _max_parity_error(branch, OnnxEncoder(path, device="cpu")), f"{modality} branch"
        )
        branches[modality] = _branch_entry(branch, path, parity)
    provenance = dict(provenance or {})
    entry = {
        "name": name,
        "kind": model.kind,
        "embedding_dim": model.embedding_dim,
        "segmentation": provenance.get("segmentation"),
        "extractors": {
            "audio": provenance.get("audio_extractor"),
            "video": provenance.get("video_extractor"),
        },
        "branches": branches,
        "frames_per_clip": frames_per_clip if model.music.takes_sequences else None,
        "model_config": model.config.to_dict(),
        "dataset": provenance,
        "training": training or {},
        **entry_provenance(),
    }
    if bank:
        entry["bank"] = _write_bank(out, bank, bank_source)
    return write_registry_entry(out, entry)


def export_twobranch_checkpoint(
    checkpoint: Path | str,
    out_dir: Path | str,
    *,
    name: str | None = None,
    state: dict[str, Any] | None = None,
) -> Path:
    """Export the ``best.pt`` of ``train`` (VM-Net, Seg-VM-Net).

    ``state`` is the checkpoint already read (:func:`~ml.export.export_checkpoint`
    reads it to choose the exporter), to spare a second read.
    """
    checkpoint = Path(checkpoint)
    state = read_checkpoint(checkpoint) if state is None else state
    model = load_model(checkpoint)
    training = {
        "checkpoint_sha256": file_sha256(checkpoint),
        "epoch": state["epoch"],
        "best_epoch": state["best_epoch"],
        "monitor": state["monitor"],
        "metrics": state["metrics"],
        "config": state["train_config"],
    }
    dataset = state.get("dataset", {})
    default_name = f"{state['kind']}-{dataset.get('segmentation', 'unknown')}-{training['checkpoint_sha256'][:12]}"
    return export_model(
        model,
        out_dir,
        name=name or default_name,
        provenance=dataset,
        training=training,
        frames_per_clip=state["train_config"].get("frames_per_clip"),
        bank=_training_bank(model, state),
        bank_source="the video segments of the training and validation clips, cut as the "
        "training set was",
    )


def _training_bank(model: TwoBranchNet, state: dict[str, Any]) -> list[np.ndarray] | None:
    """The training and validation clips' video sequences, embedded, when the model ranks
    segment sequences (Seg-VM-Net) and its training set is still where it was built."""
    from ml.data.dataset import DatasetError, load_dataset

    if model.kind != "segvmnet":
        return None
    try:
        dataset = load_dataset(state["train_config"]["dataset_dir"])
    except (DatasetError, KeyError, OSError):
        return None
    sequences = [r.video_segments for split in ("train", "val") for r in dataset.records(split)]
    return embed_query_bank(model, sequences) or None


class TwoBranchExport(ExportKind):
    """VM-Net and Seg-VM-Net: a ``music`` and a ``video`` branch, one ONNX file each."""

    names = MODEL_KINDS
    branches = ("music", "video")

    def onnx_files(self, data: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return data["branches"]

    def export_checkpoint(
        self, checkpoint: Path, out_dir: Path | str, *, name: str | None, state: dict[str, Any]
    ) -> Path:
        return export_twobranch_checkpoint(checkpoint, out_dir, name=name, state=state)
