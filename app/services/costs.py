"""The ranking costs a video query may ask for, the one it gets by default, and the
cost that says where the video fits in each track.

Every cost of :mod:`ml.ranking` but the two linkages (single and complete), which
rank worst in every published table. The default is the cost measured best through
the served path, as served (with the CSLS hubness correction and the cuts-on-beats
evidence at the model's fitted weight), on two independently built worlds, at 15,
25, 50 and 100 training clips with the default recipe (CCA; ``python -m
bench.bench_served``, docs/experiments.md "The served path"): the **centroid** (the
distance between the means of the two segment sequences) ranked the right track best
in every cell of the recorded world and level with the best on the synthetic one,
where the evidence alone nearly solves the ranking. Before the CCA recipe and the
chance-corrected evidence the best diagonal per pair (``best_trace_mean``) was best;
before the evidence, NW-DTW.

The centroid says nothing of where in a track the video fits, so the default is
never chosen for the excerpt's sake: the alignment of each result (which track
segment under which shot, and from it the excerpt) is computed by
:func:`alignment_method`, the best diagonal per pair for the centroid and the ranking
cost itself otherwise.
"""

from __future__ import annotations

from ml.ranking import METHODS as RANKING_METHODS

__all__ = ["DEFAULT_METHOD", "METHODS", "PLACEMENT_METHOD", "alignment_method"]

METHODS: tuple[str, ...] = tuple(m for m in RANKING_METHODS if m not in ("single", "complete"))
DEFAULT_METHOD = "centroid"
#: The cost whose alignment places the video in a track ranked by a cost without one.
PLACEMENT_METHOD = "best_trace_mean"


def alignment_method(method: str) -> str:
    """The cost whose alignment says where the video fits in a track ranked by
    ``method``: ``method`` itself, or :data:`PLACEMENT_METHOD` for the centroid."""
    return PLACEMENT_METHOD if method == "centroid" else method
