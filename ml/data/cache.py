"""Content-addressed cache of per-clip features.

A clip's results are a pure function of the clip's bytes and of everything that
processed them: the feature extractors' names and versions, the frame rate, the
segmentation method and its library version, the builder's own version. A cache key
is a hash of all of these, so changing any one of them recomputes exactly what it
affects, and an interrupted build resumes by finding the clips already done.

Two levels: the 1 Hz frame features of a clip (keyed by its bytes and the
extractors: the expensive part) and its segment pairs (keyed, in addition, by the
segmentation), so trying another segmentation method re-uses the features.

:class:`ContentDigest` is the other kind of hash here: of data already loaded (arrays,
texts), to tell whether two training runs saw the same data wherever it lives.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ContentDigest", "cache_key", "clip_file_name", "features_file_name", "file_sha256"]


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


class ContentDigest:
    """SHA-256 of a sequence of texts and arrays, each framed by its length.

    An array counts by its dtype, shape and bytes in C order (not by how it is laid
    out in memory or on disk), so equal arrays hash equally, and ``[1, 2], [3]`` never
    hashes like ``[1], [2, 3]``. Cost: one pass over the bytes (about 1 GB/s).
    """

    def __init__(self, domain: str) -> None:
        self._digest = hashlib.sha256()
        self.text(domain)

    def _field(self, data: bytes | memoryview) -> None:
        self._digest.update(len(data).to_bytes(8, "little"))
        self._digest.update(data)

    def text(self, value: str) -> ContentDigest:
        self._field(value.encode())
        return self

    def array(self, value: np.ndarray) -> ContentDigest:
        value = np.ascontiguousarray(value)
        self.text(f"{value.dtype.str}{value.shape}")
        self._field(memoryview(value).cast("B") if value.size else b"")
        return self

    def hexdigest(self) -> str:
        return self._digest.hexdigest()
