"""Ranking a catalog for a query: the costs of docs/method.md §5 (and length-normalised traces).

Serving ranks in two stages: a centroid shortlist from the vector index, then
one of these costs on the shortlist::

    from ml.ranking import PackedSegments, batch_distances, align

    packed = PackedSegments.from_sequences(track_embeddings)  # list of (K_t, d)
    distances = batch_distances(query, packed, shortlist_ids, "nw_dtw")
    best = shortlist_ids[np.argsort(distances)[:10]]
    details = [align(query, packed.track(t), "nw_dtw") for t in best]

Modules: :mod:`.costs` (the Numba kernel), :mod:`.packed` (contiguous storage),
:mod:`.alignment` (tracebacks and offsets for the top results), :mod:`.reference`
(plain-Python definitions the kernel is tested against), :mod:`.errors`.
"""

from .alignment import Alignment, align, align_candidates
from .costs import (
    DEFAULT_INDELS,
    METHODS,
    SYMMETRIC_METHODS,
    batch_distances,
    distance,
    distance_matrix,
    rerank,
    resolve_indel,
    warm_up,
)
from .errors import (
    CandidateIndexError,
    DimensionMismatchError,
    EmptySequenceError,
    InvalidIndelError,
    InvalidOffsetsError,
    NonFiniteEmbeddingError,
    RankingInputError,
    UnknownMethodError,
)
from .packed import PackedSegments

__all__ = [
    "DEFAULT_INDELS",
    "METHODS",
    "SYMMETRIC_METHODS",
    "Alignment",
    "CandidateIndexError",
    "DimensionMismatchError",
    "EmptySequenceError",
    "InvalidIndelError",
    "InvalidOffsetsError",
    "NonFiniteEmbeddingError",
    "PackedSegments",
    "RankingInputError",
    "UnknownMethodError",
    "align",
    "align_candidates",
    "batch_distances",
    "distance",
    "distance_matrix",
    "rerank",
    "resolve_indel",
    "warm_up",
]
