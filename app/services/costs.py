"""The ranking costs a video query may ask for, and the one it gets by default.

Every cost of :mod:`ml.ranking` but the two linkages (single and complete), which
rank worst in every published table. The default is the cost measured best through
the served path (docs/experiments.md).
"""

from __future__ import annotations

from ml.ranking import METHODS as RANKING_METHODS

__all__ = ["DEFAULT_METHOD", "METHODS"]

METHODS: tuple[str, ...] = tuple(m for m in RANKING_METHODS if m not in ("single", "complete"))
DEFAULT_METHOD = "best_trace"
