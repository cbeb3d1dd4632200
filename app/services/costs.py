"""The ranking costs a video query may ask for, and the one it gets by default.

Every cost of :mod:`ml.ranking` but the two linkages (single and complete), which
rank worst in every published table. The default is the cost measured best through
the served path, as served (with the CSLS hubness correction and the cuts-on-beats
evidence at the model's fitted weight), on two independently built worlds
(``python -m bench.bench_served``, docs/experiments.md "The served path"): the best
trace per pair (``best_trace_mean``) ranked the right track best or level with the
best in every cell of the recorded world (20, 25, 50 and 100 training clips) and
level with NW-DTW, the previous default, on the synthetic one, where the evidence
alone nearly solves the ranking; its best diagonal also says where in the track the
video fits. The summed traces without the per-pair mean, the published system's best
on shared boundaries, were the worst on the learned cost alone: the tracks with the
fewest segments come first for every query.
"""

from __future__ import annotations

from ml.ranking import METHODS as RANKING_METHODS

__all__ = ["DEFAULT_METHOD", "METHODS"]

METHODS: tuple[str, ...] = tuple(m for m in RANKING_METHODS if m not in ("single", "complete"))
DEFAULT_METHOD = "best_trace_mean"
