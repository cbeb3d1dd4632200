"""Crash-safe snapshot directories for the catalog index.

Layout of a snapshot root::

    root/
      CURRENT                 one line: the name of the live snapshot
      snapshot-000042-1f3a9c  manifest.json + one .npy file per array
      snapshot-000038-77b0e2  the previous one, kept until the next write

A snapshot is written into a hidden temporary directory, flushed to disk, then
renamed into place; ``CURRENT`` is replaced atomically (write + fsync +
``os.replace``) only after that. A crash at any point therefore leaves either
the old or the new snapshot current, never a half-written one, and a reader
never sees a directory being written.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from app.index.errors import SnapshotError

__all__ = ["FORMAT_VERSION", "read_snapshot", "write_snapshot"]

FORMAT_VERSION = 1
_CURRENT = "CURRENT"
_PREFIX = "snapshot-"


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_snapshot(
    root: str | Path, manifest: dict[str, Any], arrays: dict[str, np.ndarray], *, keep: int = 2
) -> Path:
    """Write a new snapshot under ``root`` and make it current; returns its path.

    ``manifest`` must be JSON-serialisable; the format version and the array
    names are added to it. Older snapshots beyond the ``keep`` newest are deleted.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    name = f"{_PREFIX}{int(manifest.get('watermark', 0)):06d}-{uuid.uuid4().hex[:6]}"
    staging = root / f".{name}.tmp"
    staging.mkdir()
    try:
        for key, array in arrays.items():
            with open(staging / f"{key}.npy", "wb") as fh:
                np.save(fh, np.ascontiguousarray(array), allow_pickle=False)
                fh.flush()
                os.fsync(fh.fileno())
        full = {**manifest, "format": FORMAT_VERSION, "arrays": sorted(arrays)}
        with open(staging / "manifest.json", "w", encoding="utf-8") as fh:
            json.dump(full, fh, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        final = root / name
        os.rename(staging, final)
        pointer = root / f".{_CURRENT}.{uuid.uuid4().hex[:6]}.tmp"
        pointer.write_text(name + "\n", encoding="utf-8")
        _fsync(pointer)
        os.replace(pointer, root / _CURRENT)
        _fsync(root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _prune(root, keep=keep, current=name)
    return final


def _prune(root: Path, keep: int, current: str) -> None:
    snapshots = sorted(
        (p for p in root.iterdir() if p.is_dir() and p.name.startswith(_PREFIX)),
        key=lambda p: p.stat().st_mtime_ns,
        reverse=True,
    )
    for stale in snapshots[max(keep, 1) :]:
        if stale.name != current:
            shutil.rmtree(stale, ignore_errors=True)


def read_snapshot(root: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The manifest and arrays of the current snapshot under ``root``.

    Raises
    ------
    SnapshotError
        No snapshot, a dangling ``CURRENT``, an unknown format version, or a
        missing or unreadable array file.
    """
    root = Path(root)
    pointer = root / _CURRENT
    if not pointer.is_file():
        raise SnapshotError(f"no snapshot in {root} (no {_CURRENT} file)")
    directory = root / pointer.read_text(encoding="utf-8").strip()
    try:
        manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SnapshotError(f"snapshot {directory.name}: unreadable manifest ({exc})") from exc
    if manifest.get("format") != FORMAT_VERSION:
        raise SnapshotError(
            f"snapshot {directory.name}: format {manifest.get('format')!r}, "
            f"this version reads {FORMAT_VERSION}"
        )
    arrays = {}
    for key in manifest.get("arrays", []):
        try:
            arrays[key] = np.load(directory / f"{key}.npy", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise SnapshotError(
                f"snapshot {directory.name}: array {key!r} unreadable ({exc})"
            ) from exc
    return manifest, arrays
