"""ONNX export of a trained MuSimNet, its registry entry, and ONNX Runtime track embeddings.

The graph maps raw log-CQT patches (dB, as :func:`ml.features.cqt.log_cqt` gives them)
to unit-length patch embeddings: the per-bin input standardisation (the model's
buffers), the convolution blocks (batch norms frozen to their running statistics),
the projection, auto-pooling (or the max over time of the VGG variant) and the L2
norm are all inside it, so serving needs no PyTorch and no side file.

- input ``patches``: float32 ``(batch, n_bins, patch_frames)``, dynamic batch axis;
  output ``embedding``: float32 ``(batch, d)``.
- A *track* embedding is formed outside the graph, exactly as
  :func:`ml.models.musimnet.embed_track` does: ``n_patches`` patches drawn by
  :func:`ml.features.cqt.random_patches` from ``numpy.random.default_rng(seed)``, their
  embeddings averaged (not re-normalised). ``model.json`` records that recipe
  (``track_embedding``) and the CQT parameters (``cqt``); :class:`OnnxMuSimNet`
  follows them.
- :func:`export_musimnet` checks that ONNX Runtime reproduces PyTorch to
  :data:`~ml.export.common.PARITY_TOLERANCE` before it writes the entry.
- :class:`MuSimNetExport` is the kind's entry in :data:`ml.export.kinds.EXPORT_KINDS`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ml.data.cache import file_sha256
from ml.export.common import (
    ExportError,
    ExportKind,
    OnnxEncoder,
    RegistryEntry,
    entry_provenance,
    parity_error,
    require_parity,
    write_onnx,
    write_registry_entry,
)
from ml.features.cqt import (
    BINS_PER_OCTAVE,
    CQT_VERSION,
    FLOOR_DB,
    FMIN_HZ,
    HOP_LENGTH,
    N_BINS,
    SAMPLE_RATE,
    load_log_cqt,
    log_cqt,
    random_patches,
)
from ml.models.musimnet import MUSIMNET_KIND, TRACK_PATCHES, MuSimNet
from ml.training.checkpoint import read_checkpoint

__all__ = [
    "MUSIMNET_FILE",
    "MuSimNetExport",
    "OnnxMuSimNet",
    "check_cqt",
    "cqt_parameters",
    "export_musimnet",
    "export_musimnet_checkpoint",
]

MUSIMNET_FILE = "musimnet.onnx"
INPUT_NAME = "patches"
#: The seed of :func:`ml.models.musimnet.embed_track`'s patch positions.
TRACK_SEED = 0


def cqt_parameters() -> dict[str, Any]:
    """What :func:`ml.features.cqt.log_cqt` computes, for the registry entry.

    ``version`` changes whenever any of the numbers would; serving compares it.
    """
    return {
        "version": CQT_VERSION,
        "function": "ml.features.cqt.log_cqt",
        "sample_rate": SAMPLE_RATE,
        "hop_length": HOP_LENGTH,
        "n_bins": N_BINS,
        "bins_per_octave": BINS_PER_OCTAVE,
        "fmin_hz": FMIN_HZ,
        "floor_db": FLOOR_DB,
        "scale": "power in dB re 1.0 (librosa.power_to_db, top_db=None)",
        "decoding": "mono, resampled to sample_rate",
    }


def _parity_patches(model: MuSimNet, rng: np.random.Generator) -> np.ndarray:
    """Patches spread like the training CQTs (the stored statistics), a far tail, silence."""
    mean = model.input_mean.detach().cpu().numpy()[:, None]
    std = model.input_std.detach().cpu().numpy()[:, None]
    frames = model.config.patch_frames
    typical = mean + std * rng.normal(size=(3, len(mean), frames))
    far = np.broadcast_to(mean + 4.0 * std, (len(mean), frames))
    silence = np.full((len(mean), frames), FLOOR_DB)  # a short track's padding
    return np.concatenate([typical, far[None], silence[None]]).astype(np.float32)


def export_musimnet(
    model: MuSimNet,
    out_dir: Path | str,
    *,
    name: str,
    training: dict[str, Any] | None = None,
    n_patches: int = TRACK_PATCHES,
    seed: int = TRACK_SEED,
) -> Path:
    """Export ``model`` to ``out_dir/musimnet.onnx`` and write its ``model.json``.

    ``training`` describes the run (checkpoint checksum, configuration, metrics);
    ``n_patches`` and ``seed`` are the track-embedding recipe serving will follow
    (those of :func:`~ml.models.musimnet.embed_track` by default).

    Raises
    ------
    ExportError
        The model does not take :func:`~ml.features.cqt.log_cqt`'s bins, or ONNX
        Runtime differs from PyTorch by more than the tolerance.
    """
    config = model.config
    if config.n_bins != N_BINS:
        raise ExportError(f"the model takes {config.n_bins} CQT bins; log_cqt gives {N_BINS}")
    if n_patches < 1:
        raise ExportError(f"n_patches must be >= 1, got {n_patches}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.eval()
    example = torch.zeros(2, config.n_bins, config.patch_frames)
    path = write_onnx(
        model, example, out / MUSIMNET_FILE, input_name=INPUT_NAME, dynamic_axes={0: "batch"}
    )
    encoder = OnnxEncoder(path, device="cpu")
    parity = require_parity(
        parity_error(model, encoder, _parity_patches(model, np.random.default_rng(0))),
        "MuSimNet",
    )
    entry = {
        "name": name,
        "kind": MUSIMNET_KIND,
        "embedding_dim": config.embedding_dim,
        "network": {
            "file": path.name,
            "sha256": file_sha256(path),
            "input_name": INPUT_NAME,
            "output_name": encoder.session.get_outputs()[0].name,
            "input_layout": "batch,bins,frames",
            "n_bins": config.n_bins,
            "patch_frames": config.patch_frames,
            "output_dim": config.embedding_dim,
            "normalisation": {
                "mean": model.input_mean.detach().cpu().double().tolist(),
                "std": model.input_std.detach().cpu().double().tolist(),
            },
            "parity_max_abs_error": parity,
        },
        "cqt": cqt_parameters(),
        "track_embedding": {
            "n_patches": n_patches,
            "seed": seed,
            "patch_frames": config.patch_frames,
            "patches": "ml.features.cqt.random_patches(cqt, n_patches, patch_frames, "
            "numpy.random.default_rng(seed)); a track shorter than a patch is padded "
            "with floor_db",
            "pooling": "mean of the patch embeddings, not re-normalised (norm <= 1)",
        },
        "model_config": config.to_dict(),
        "training": training or {},
        **entry_provenance(),
    }
    return write_registry_entry(out, entry)


def _best_metrics(state: dict[str, Any]) -> dict[str, Any]:
    """The validation record of the best epoch (empty when the run logged none)."""
    return next((h for h in state.get("history", []) if h.get("epoch") == state["best_epoch"]), {})


def export_musimnet_checkpoint(
    checkpoint: Path | str,
    out_dir: Path | str,
    *,
    name: str | None = None,
    state: dict[str, Any] | None = None,
) -> Path:
    """Export the best model of a MuSimNet checkpoint (``musimnet_best.pt``).

    ``state`` is the checkpoint already read (:func:`~ml.export.export_checkpoint`
    reads it to choose the exporter), to spare a second read.
    """
    from ml.training.musimnet import musimnet_from_state  # training code only when exporting

    checkpoint = Path(checkpoint)
    state = read_checkpoint(checkpoint) if state is None else state
    model = musimnet_from_state(state, str(checkpoint))
    training = {
        "checkpoint_sha256": file_sha256(checkpoint),
        "epoch": state["epoch"],
        "best_epoch": state["best_epoch"],
        "monitor": state["train_config"].get("monitor"),
        "best_value": state.get("best_value"),
        "metrics": _best_metrics(state),
        "config": state["train_config"],
    }
    default_name = f"{MUSIMNET_KIND}-{model.config.variant}-{training['checkpoint_sha256'][:12]}"
    return export_musimnet(model, out_dir, name=name or default_name, training=training)


def check_cqt(entry: RegistryEntry) -> None:
    """Refuse an entry whose CQT is not the installed one (its inputs would differ)."""
    recorded = (entry.data.get("cqt") or {}).get("version")
    if recorded != CQT_VERSION:
        raise ExportError(
            f"model {entry.data.get('name')!r} was trained on CQT {recorded!r}, "
            f"but {CQT_VERSION!r} is installed: retrain or re-export"
        )


@dataclass(frozen=True)
class OnnxMuSimNet:
    """A MuSimNet served by ONNX Runtime: audio -> log-CQT -> track embedding ``(d,)``,
    computed as :func:`ml.models.musimnet.embed_track` computes it with PyTorch."""

    encoder: OnnxEncoder
    n_patches: int
    seed: int
    patch_frames: int

    @classmethod
    def from_entry(cls, entry: RegistryEntry, device: str = "auto") -> OnnxMuSimNet:
        if entry.kind != MUSIMNET_KIND:
            raise ExportError(f"{entry.path} holds a {entry.kind} model, not a MuSimNet")
        check_cqt(entry)
        recipe = entry.data["track_embedding"]
        return cls(
            OnnxEncoder(entry.file_path("network"), device=device),
            int(recipe["n_patches"]),
            int(recipe["seed"]),
            int(recipe["patch_frames"]),
        )

    @property
    def embedding_dim(self) -> int:
        return int(self.encoder.output_dim)

    def embed_cqt(self, cqt: np.ndarray) -> np.ndarray:
        """The track embedding of a log-CQT ``(n_bins, n_frames)``."""
        # A fresh generator per track: a track's embedding never depends on the
        # tracks embedded before it (embed_track's single-track case).
        rng = np.random.default_rng(self.seed)
        patches = random_patches(cqt, self.n_patches, self.patch_frames, rng)
        return self.encoder.embed(patches).mean(axis=0)

    def embed_signal(self, y: np.ndarray, sr: int) -> np.ndarray:
        """The track embedding of mono audio (resampled to the CQT's rate if needed)."""
        return self.embed_cqt(log_cqt(y, sr))

    def embed_file(self, path: str | os.PathLike[str], **load_kwargs: Any) -> np.ndarray:
        """The track embedding of any file ffmpeg decodes (see
        :func:`ml.features.cqt.load_log_cqt` for ``load_kwargs`` and errors)."""
        return self.embed_cqt(load_log_cqt(path, **load_kwargs))


class MuSimNetExport(ExportKind):
    """MuSimNet: one ``network`` ONNX file (log-CQT patches in, patch embeddings out)."""

    names = (MUSIMNET_KIND,)

    def onnx_files(self, data: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {"network": data["network"]}

    def export_checkpoint(
        self, checkpoint: Path, out_dir: Path | str, *, name: str | None, state: dict[str, Any]
    ) -> Path:
        return export_musimnet_checkpoint(checkpoint, out_dir, name=name, state=state)
