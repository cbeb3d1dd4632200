"""Numeric arrays stored as database blobs.

Arrays are kept as raw little-endian bytes with their shape in sibling columns:
portable across SQLite and Postgres, and decoded without copying.
"""

from __future__ import annotations

import numpy as np


def to_blob(array: np.ndarray, dtype: str = "<f4") -> bytes:
    return np.ascontiguousarray(array, dtype=dtype).tobytes()


def from_blob(blob: bytes, shape: tuple[int, ...] | int, dtype: str = "<f4") -> np.ndarray:
    """Decode a blob written by :func:`to_blob` (read-only view on the bytes)."""
    return np.frombuffer(blob, dtype=dtype).reshape(shape)
