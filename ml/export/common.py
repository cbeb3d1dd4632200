"""What every exported model shares: ONNX writing, the parity check, ONNX Runtime
sessions, and the model-registry entry (its provenance, the file, its verification).

- ``model.json`` (the registry entry) holds what serving and reproduction need:
  kind, segmentation method, extractor names, versions and dims, embedding dim,
  input layout, normalisation statistics, the SHA-256 of each ``.onnx`` file, the
  training configuration and metrics, and library versions.
- :class:`OnnxEncoder` runs one ONNX file with ONNX Runtime (CUDA provider when asked
  for and present, CPU otherwise); :func:`ml.export.kinds.load_registry_entry` reads
  an entry through its kind and verifies its checksums.

The exporters build on this module: :mod:`ml.export.twobranch` (VM-Net, Seg-VM-Net)
and :mod:`ml.export.musimnet` (MuSimNet), each with its :class:`ExportKind`, listed in
:mod:`ml.export.kinds` (which reads a registry entry through its kind).
"""

from __future__ import annotations

import io
import json
import os
import platform
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import onnxruntime as ort
import torch

from ml.data.cache import file_sha256
from ml.sync.prior import SyncBank

__all__ = [
    "ONNX_OPSET",
    "OUTPUT_NAME",
    "PARITY_TOLERANCE",
    "DEFAULT_MUSIC_SEGMENTER",
    "MUSIC_SEGMENTERS",
    "REGISTRY_FILE",
    "REGISTRY_FORMAT",
    "ExportError",
    "ExportKind",
    "OnnxEncoder",
    "RegistryEntry",
    "entry_provenance",
    "parity_error",
    "require_parity",
    "select_providers",
    "update_registry_entry",
    "write_onnx",
    "write_registry_entry",
    "write_sync_bank",
]

ONNX_OPSET = 17
PARITY_TOLERANCE = 1e-4
REGISTRY_FORMAT = 1
REGISTRY_FILE = "model.json"
#: The music videos whose evidence gives each catalog track its prior (ml.sync.prior).
SYNC_BANK_FILE = "sync_bank.npz"
#: Music structures a catalog track can be cut by, and the one used under a model
#: trained on shots (docs/method.md §2).
MUSIC_SEGMENTERS = ("foote", "sf", "olda")
DEFAULT_MUSIC_SEGMENTER = "olda"
OUTPUT_NAME = "embedding"


class ExportError(RuntimeError):
    """Export failed, ONNX Runtime disagrees with PyTorch, or a registry entry is
    missing, malformed or does not match its files' checksums."""


def select_providers(device: str = "auto") -> list[str]:
    """ONNX Runtime execution providers for ``device`` ("auto", "cpu" or "cuda").

    "auto" takes CUDA when this onnxruntime build has it; "cuda" without it is an error
    rather than a silent fall back to CPU.
    """
    available = ort.get_available_providers()
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device in ("auto", "cuda") and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device == "cuda":
        raise ExportError(f"CUDA provider requested but onnxruntime offers only {available}")
    if device == "auto":
        return ["CPUExecutionProvider"]
    raise ExportError(f"device must be auto, cpu or cuda, got {device!r}")


def write_onnx(
    module: torch.nn.Module,
    example: torch.Tensor,
    path: Path | str,
    *,
    input_name: str,
    dynamic_axes: dict[int, str],
) -> Path:
    """Write ``module`` (traced in eval mode on ``example``) as an ONNX file, atomically.

    ``dynamic_axes`` names the input axes left free (the batch axis at least); the
    output's first axis is always the batch.
    """
    path = Path(path)
    was_training = module.training
    module.eval()
    buffer = io.BytesIO()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # The TorchScript exporter, chosen on purpose: it needs no extra package
            # (the dynamo exporter needs onnxscript) and handles these plain
            # feed-forward graphs exactly; its deprecation notice is expected, and so
            # are the tracer's notes on the Python-side shape checks (they hold for
            # every input the graph accepts).
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(
                module,
                (example.to(next(module.parameters()).device),),
                buffer,
                dynamo=False,
                input_names=[input_name],
                output_names=[OUTPUT_NAME],
                dynamic_axes={input_name: dynamic_axes, OUTPUT_NAME: {0: "batch"}},
                opset_version=ONNX_OPSET,
            )
    finally:
        module.train(was_training)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(buffer.getvalue())
    os.replace(tmp, path)
    return path


class OnnxEncoder:
    """One exported branch served by ONNX Runtime."""

    def __init__(self, path: Path | str, device: str = "auto") -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ExportError(f"no ONNX file at {self.path}")
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: provider fallbacks are expected
        self.session = ort.InferenceSession(
            str(self.path), options, providers=select_providers(device)
        )
        signature = self.session.get_inputs()[0]
        self.input_name = signature.name
        # Named (dynamic) axes are strings in the signature, fixed ones are ints.
        self.input_shape = tuple(signature.shape)
        self.input_rank = len(signature.shape)
        self.input_dim = signature.shape[-1]
        self.output_dim = self.session.get_outputs()[0].shape[-1]

    @property
    def providers(self) -> list[str]:
        return self.session.get_providers()

    def embed(self, features: np.ndarray) -> np.ndarray:
        """Embeddings (batch, d) float32 of raw features (batch, [time,] dim)."""
        x = np.ascontiguousarray(features, dtype=np.float32)
        if x.ndim != self.input_rank or x.shape[-1] != self.input_dim:
            raise ValueError(
                f"{self.path.name} expects rank-{self.input_rank} input with last dim "
                f"{self.input_dim}, got shape {x.shape}"
            )
        fixed = [
            (axis, size) for axis, size in enumerate(self.input_shape) if isinstance(size, int)
        ]
        if any(x.shape[axis] != size for axis, size in fixed):
            raise ValueError(
                f"{self.path.name} expects input of shape {self.input_shape}, got {x.shape}"
            )
        if len(x) == 0:
            return np.zeros((0, self.output_dim), dtype=np.float32)
        return self.session.run(None, {self.input_name: x})[0]


def parity_error(module: torch.nn.Module, encoder: OnnxEncoder, inputs: np.ndarray) -> float:
    """Largest absolute difference between ONNX Runtime and PyTorch (eval mode) on ``inputs``."""
    module.eval()
    with torch.no_grad():
        expected = module(torch.from_numpy(inputs).to(next(module.parameters()).device))
    return float(np.abs(encoder.embed(inputs) - expected.cpu().numpy()).max())


def require_parity(error: float, what: str) -> float:
    """``error`` if within :data:`PARITY_TOLERANCE`; otherwise :class:`ExportError`."""
    if not error <= PARITY_TOLERANCE:  # NaN fails too
        raise ExportError(
            f"{what}: ONNX Runtime differs from PyTorch by {error:.3g} (> {PARITY_TOLERANCE})"
        )
    return error


def _package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("torch", "onnx", "onnxruntime", "numpy"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            continue
    return versions


def entry_provenance() -> dict[str, Any]:
    """The fields every registry entry carries: format, opset, library versions, date."""
    return {
        "format": REGISTRY_FORMAT,
        "onnx_opset": ONNX_OPSET,
        "versions": _package_versions(),
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_registry_entry(out_dir: Path, entry: dict[str, Any]) -> Path:
    """Write ``model.json`` atomically (after the ONNX files it names)."""
    path = out_dir / REGISTRY_FILE
    tmp = path.with_name(f".{REGISTRY_FILE}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(entry, indent=2, sort_keys=True))
    os.replace(tmp, path)
    return path


def update_registry_entry(out_dir: Path, **fields: Any) -> Path:
    """Set top-level ``fields`` of an exported ``model.json`` (measured after export,
    such as the fitted ``sync_fusion``), rewriting it atomically."""
    path = Path(out_dir) / REGISTRY_FILE
    entry = json.loads(path.read_text())
    entry.update(fields)
    return write_registry_entry(Path(out_dir), entry)


def write_sync_bank(out_dir: Path, bank: SyncBank, source: str) -> Path:
    """Write ``bank`` beside an exported ``model.json`` and name it there as
    ``sync_bank`` (its file, checksum, size and where its videos came from)."""
    path = Path(out_dir) / SYNC_BANK_FILE
    tmp = path.with_name(f".{os.getpid()}.{SYNC_BANK_FILE}")
    bank.save(tmp)
    os.replace(tmp, path)
    described = {
        "file": SYNC_BANK_FILE,
        "sha256": file_sha256(path),
        "videos": len(bank),
        "source": source,
    }
    return update_registry_entry(Path(out_dir), sync_bank=described)


class ExportKind(ABC):
    """One kind of model as export knows it: how a training checkpoint of the kind is
    exported, and which ONNX files its registry entry names.

    One subclass per kind (:class:`ml.export.twobranch.TwoBranchExport`,
    :class:`ml.export.musimnet.MuSimNetExport`), listed in
    :data:`ml.export.kinds.EXPORT_KINDS`.
    """

    #: The ``kind`` values of its checkpoints and registry entries.
    names: ClassVar[tuple[str, ...]]
    #: The encoder branches of its entries, by modality ("music", "video"); none for a
    #: model with a single network.
    branches: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def onnx_files(self, data: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Each ONNX file's entry (``file``, ``sha256``...) by role, from ``model.json``."""

    @abstractmethod
    def export_checkpoint(
        self, checkpoint: Path, out_dir: Path | str, *, name: str | None, state: dict[str, Any]
    ) -> Path:
        """Export the model of a checkpoint already read (``state``); the ``model.json``."""


@dataclass(frozen=True)
class RegistryEntry:
    """A verified registry entry and its directory.

    A two-branch model (VM-Net, Seg-VM-Net) has ``branches`` ("music", "video"); a
    MuSimNet has one ``network`` and no branch (see :mod:`ml.export.musimnet`). Its
    ``export_kind`` says which (:func:`ml.export.kinds.load_registry_entry` finds it).
    """

    path: Path
    data: dict[str, Any]
    export_kind: ExportKind

    @property
    def kind(self) -> str:
        return self.data["kind"]

    @property
    def segmentation(self) -> str | None:
        return self.data.get("segmentation")

    @property
    def embedding_dim(self) -> int:
        return int(self.data["embedding_dim"])

    @property
    def sync_weight(self) -> float:
        """Weight of the cuts-on-beats evidence in the ranking (``ml.ranking.fusion``),
        fit on the model's validation clips; 0 (off) when none was fit."""
        return float((self.data.get("sync_fusion") or {}).get("weight", 0.0))

    def sync_bank(self) -> SyncBank | None:
        """The music videos whose evidence is each catalog track's prior
        (:mod:`ml.sync.prior`), or None for a model that has none (no prior)."""
        described = self.data.get("sync_bank")
        return SyncBank.load(self.path.parent / described["file"]) if described else None

    def extractor_identity(self, modality: str) -> dict | None:
        """The frame-feature extractor the model was trained with, ``{"name", "version",
        "dim"}`` (version and dim None for an entry that names it only), or None."""
        identity = (self.data.get("extractors") or {}).get(modality)
        if isinstance(identity, str):
            return {"name": identity, "version": None, "dim": None}
        return identity or None

    @property
    def music_segmenter(self) -> str:
        """The music structure that cuts catalog tracks for this model: its own
        segmentation when that is one, else :data:`DEFAULT_MUSIC_SEGMENTER` (a model
        trained on shots: a shot segmentation means nothing for audio alone)."""
        own = self.segmentation
        return own if own in MUSIC_SEGMENTERS else DEFAULT_MUSIC_SEGMENTER

    def onnx_files(self) -> dict[str, dict[str, Any]]:
        """Each ONNX file's entry (``file``, ``sha256``...) by role: "music" and "video"
        for a two-branch model, "network" for MuSimNet (its kind says)."""
        return self.export_kind.onnx_files(self.data)

    def file_path(self, role: str) -> Path:
        files = self.onnx_files()
        if role not in files:
            raise ExportError(f"no {role!r} ONNX file in {self.path} (a {self.kind} model)")
        return self.path.parent / files[role]["file"]

    def branch_path(self, modality: str) -> Path:
        if modality not in self.export_kind.branches:
            raise ExportError(f"a {self.kind} model has no {modality!r} branch ({self.path})")
        return self.file_path(modality)

    def encoder(self, modality: str, device: str = "auto") -> OnnxEncoder:
        return OnnxEncoder(self.branch_path(modality), device=device)

    def query_bank(
        self, sync_bank: SyncBank | None = None, video: OnnxEncoder | None = None
    ) -> list[np.ndarray] | None:
        """The reference queries of the hubness correction and the match score, ``(K_i,
        d)`` embeddings by the video branch: the bank of music videos cut as queries are
        (:meth:`sync_bank`) when the model has one, else its training videos cut as its
        training set was (written at export); None without either. A caller that holds
        the loaded ``sync_bank`` and ``video`` encoder passes them (read once).

        A reference query should be cut as the queries it stands for are (CSLS compares
        a query's neighbourhood with theirs): on the recorded world the videos cut at
        their cuts ranked better and with fewer hubs than the training set's music-cut
        segments at every training size (docs/experiments.md).
        """
        sync = sync_bank if sync_bank is not None else self.sync_bank()
        if sync is not None and len(sync) and "video" in self.export_kind.branches:
            video = video or self.encoder("video", "cpu")
            return [video.embed(np.asarray(x, np.float32)) for x in sync.segment_vectors()]
        described = self.data.get("bank")
        if not described:
            return None
        with np.load(self.path.parent / described["file"], allow_pickle=False) as z:
            vectors, offsets = z["vectors"], z["offsets"]
        return [vectors[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
