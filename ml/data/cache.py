"""Content-addressed cache of per-clip features.

A clip's results are a pure function of the clip's bytes and of everything that
processed them: the feature extractors' names and versions, the frame rate, the
segmentation method and its library version, the builder's own version. A cache key
is a hash of all of these, so changing any one of them recomputes exactly what it
affects, and an interrupted build resumes by finding the clips already done.

Two levels: the 1 Hz frame features of a clip (keyed by its bytes and the
extractors: the expensive part) and its segment pairs (keyed, in addition, by the
segmentation), so trying another segmentation method re-uses the features.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

__all__ = ["cache_key", "clip_file_name", "features_file_name", "file_sha256"]


def cache_key(parts: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``parts`` (key order does not matter)."""
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def clip_file_name(key: str) -> str:
    """Relative path of a clip file inside a dataset directory (two-level fan-out
    keeps directories small for large corpora)."""
    return f"cache/{key[:2]}/{key}.npz"


def features_file_name(key: str) -> str:
    """Relative path of a clip's frame features: shared by every segmentation of the
    clip, so trying another segmentation method does not re-extract features."""
    return f"cache/frames/{key[:2]}/{key}.npz"


def file_sha256(path: Path, chunk_size: int = 1 << 20) -> str:
    """Hash of a file's bytes: the identity of a clip, whatever its name."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk_size):
            digest.update(block)
    return digest.hexdigest()
