"""The error every metric raises for malformed inputs."""

from __future__ import annotations

__all__ = ["EvaluationError"]


class EvaluationError(ValueError):
    """Raised when metric inputs are malformed (wrong shapes, NaN, out-of-range ids)."""
