"""ONNX export of trained models and the model-registry entry.

- :mod:`ml.export.common`: what every export shares (ONNX writing, the parity check
  against PyTorch, :class:`OnnxEncoder`, the registry entry and its verification).
- :mod:`ml.export.twobranch`: VM-Net and Seg-VM-Net (``music.onnx``, ``video.onnx``).
- :mod:`ml.export.musimnet`: MuSimNet (``musimnet.onnx``) and :class:`OnnxMuSimNet`,
  its track embeddings served by ONNX Runtime.
- :mod:`ml.export.kinds`: the table of model kinds (one :class:`ExportKind` each) and
  :func:`load_registry_entry`, which reads an entry through its kind.
- :mod:`ml.export.checkpoint`: :func:`export_checkpoint`, a training checkpoint
  through the exporter of its kind.

The exporters import ``common`` and nothing of each other; this package re-exports
the names callers use.
"""

from __future__ import annotations

from ml.export.checkpoint import export_checkpoint
from ml.export.common import (
    ONNX_OPSET,
    PARITY_TOLERANCE,
    REGISTRY_FILE,
    REGISTRY_FORMAT,
    ExportError,
    ExportKind,
    OnnxEncoder,
    RegistryEntry,
    entry_provenance,
    parity_error,
    require_parity,
    select_providers,
    update_registry_entry,
    write_onnx,
    write_registry_entry,
    write_sync_bank,
)
from ml.export.kinds import EXPORT_KINDS, export_kind, load_registry_entry
from ml.export.twobranch import export_branch, export_model

__all__ = [
    "EXPORT_KINDS",
    "ONNX_OPSET",
    "PARITY_TOLERANCE",
    "REGISTRY_FILE",
    "REGISTRY_FORMAT",
    "ExportError",
    "ExportKind",
    "OnnxEncoder",
    "RegistryEntry",
    "entry_provenance",
    "export_branch",
    "export_checkpoint",
    "export_kind",
    "export_model",
    "load_registry_entry",
    "parity_error",
    "require_parity",
    "select_providers",
    "update_registry_entry",
    "write_onnx",
    "write_registry_entry",
    "write_sync_bank",
]
