"""The model kinds export knows, in one table, and a registry entry read through its kind.

Adding a kind of model means one :class:`~ml.export.common.ExportKind` subclass (beside
its exporter, as :mod:`ml.export.twobranch` and :mod:`ml.export.musimnet` have) and
one line in :data:`EXPORT_KINDS`; :func:`export_kind` is the only place a ``kind``
value is looked up.
"""

from __future__ import annotations

import json
from pathlib import Path

from ml.data.cache import file_sha256
from ml.export.common import (
    REGISTRY_FILE,
    REGISTRY_FORMAT,
    ExportError,
    ExportKind,
    RegistryEntry,
)
from ml.export.musimnet import MuSimNetExport
from ml.export.twobranch import TwoBranchExport

__all__ = ["EXPORT_KINDS", "export_kind", "load_registry_entry"]

#: Every kind of model that can be exported and registered.
EXPORT_KINDS: tuple[ExportKind, ...] = (TwoBranchExport(), MuSimNetExport())


def export_kind(kind: str) -> ExportKind:
    """The :class:`ExportKind` of a checkpoint's or registry entry's ``kind``."""
    for candidate in EXPORT_KINDS:
        if kind in candidate.names:
            return candidate
    known = sorted(name for candidate in EXPORT_KINDS for name in candidate.names)
    raise ExportError(f"unknown model kind {kind!r} (known: {', '.join(known)})")


def load_registry_entry(path: Path | str, *, verify: bool = True) -> RegistryEntry:
    """Read ``model.json`` (or its directory); with ``verify``, check every checksum."""
    path = Path(path)
    if path.is_dir():
        path = path / REGISTRY_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ExportError(f"unreadable registry entry {path}: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != REGISTRY_FORMAT:
        raise ExportError(f"{path} is not a registry entry of format {REGISTRY_FORMAT}")
    entry = RegistryEntry(path, data, export_kind(str(data.get("kind"))))
    try:
        files = entry.onnx_files()
    except KeyError as exc:
        raise ExportError(f"{path} names no ONNX file ({exc} is missing)") from exc
    if verify:
        for role, described in files.items():
            file = entry.file_path(role)
            if not file.is_file():
                raise ExportError(f"{role} ONNX file {file} is missing")
            if file_sha256(file) != described["sha256"]:
                raise ExportError(f"{file} does not match the checksum in {path}")
        for key, what in (("bank", "query bank"), ("sync_bank", "bank of music videos")):
            if described := data.get(key):
                file = path.parent / described["file"]
                if not file.is_file() or file_sha256(file) != described["sha256"]:
                    raise ExportError(f"the {what} {file} is missing or does not match {path}")
    return entry
