"""The ranking costs a video query may ask for, and the one it gets by default.

Every cost of :mod:`ml.ranking` but the two linkages (single and complete), which
rank worst in every published table. The default is the cost measured best through
the served path on two independently built worlds (``python -m bench.bench_served``,
docs/experiments.md "The served path"): NW-DTW ranked the right track best on the
synthetic world with 20 and 50 training clips, within 1.3 points of the best on the
recorded world with 20, and best on both with the CSLS correction; the summed traces
(the published system's best on shared boundaries) were the worst there, one catalog
track coming first for every query.
"""

from __future__ import annotations

from ml.ranking import METHODS as RANKING_METHODS

__all__ = ["DEFAULT_METHOD", "METHODS"]

METHODS: tuple[str, ...] = tuple(m for m in RANKING_METHODS if m not in ("single", "complete"))
DEFAULT_METHOD = "nw_dtw"
