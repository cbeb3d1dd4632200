"""Exceptions raised on bad input to the ranking costs.

Every exception is a :class:`ValueError` (or, for bad candidate ids, also an
:class:`IndexError`), so callers that only care about "the request was wrong"
can catch one type, while the API layer can map each case to a precise message.
"""

from __future__ import annotations

__all__ = [
    "CandidateIndexError",
    "DimensionMismatchError",
    "EmptySequenceError",
    "InvalidIndelError",
    "InvalidOffsetsError",
    "NonFiniteEmbeddingError",
    "RankingInputError",
    "UnknownMethodError",
]


class RankingInputError(ValueError):
    """Base class: the inputs of a ranking cost are malformed."""


class UnknownMethodError(RankingInputError):
    """The cost name is not one of :data:`ml.ranking.METHODS`."""


class DimensionMismatchError(RankingInputError):
    """An embedding array has the wrong rank, or query and catalog dimensions differ."""


class EmptySequenceError(RankingInputError):
    """A query or a track has no segment: no cost is defined on an empty sequence."""


class NonFiniteEmbeddingError(RankingInputError):
    """An embedding contains NaN or infinity."""


class CandidateIndexError(RankingInputError, IndexError):
    """A candidate id does not name a track of the packed catalog."""


class InvalidOffsetsError(RankingInputError):
    """Packed offsets are not a strictly increasing 0..N sequence."""


class InvalidIndelError(RankingInputError):
    """An indel (gap) penalty is negative or not finite."""
