"""The four evaluation scenarios of docs/method.md §6, as transformations of segment sequences.

- ``vanilla``: query and target as they are (they share boundaries);
- ``crop_query``: the first two segments of the query are dropped (a video that starts
  later in the song, as a commercial cut from a longer edit);
- ``stretch_targets``: every segment of every target is repeated twice (the same music
  with its sections lengthened);
- ``crop_stretch``: both.

A scenario maps one (query, target) pair of (K, d) arrays to another; it never changes
the embedding values, only which segments are present and how often.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ml.evaluation.retrieval import EvaluationError

__all__ = [
    "CROPPED_SEGMENTS",
    "SCENARIOS",
    "STRETCH_FACTOR",
    "apply_scenario",
    "crop_query",
    "stretch_target",
]

SCENARIOS: tuple[str, ...] = ("vanilla", "crop_query", "stretch_targets", "crop_stretch")

CROPPED_SEGMENTS = 2
STRETCH_FACTOR = 2


def _check_sequence(segments: np.ndarray, what: str) -> np.ndarray:
    segments = np.asarray(segments)
    if segments.ndim != 2 or segments.shape[0] == 0:
        raise EvaluationError(f"{what} must be a non-empty (K, d) array, got {segments.shape}")
    return segments


def crop_query(query: np.ndarray, n_dropped: int = CROPPED_SEGMENTS) -> np.ndarray:
    """Drop the first ``n_dropped`` segments of a query.

    A query never becomes empty: with ``K <= n_dropped`` segments only its last segment
    is kept (the shortest video that still asks a question).
    """
    query = _check_sequence(query, "query")
    if n_dropped < 0:
        raise EvaluationError(f"n_dropped must be >= 0, got {n_dropped}")
    return query[min(n_dropped, query.shape[0] - 1) :]


def stretch_target(target: np.ndarray, factor: int = STRETCH_FACTOR) -> np.ndarray:
    """Repeat every segment of a target ``factor`` times in place: a b c -> a a b b c c."""
    target = _check_sequence(target, "target")
    if factor < 1:
        raise EvaluationError(f"factor must be >= 1, got {factor}")
    return np.repeat(target, factor, axis=0)


def _identity(segments: np.ndarray) -> np.ndarray:
    return _check_sequence(segments, "segments")


Transform = Callable[[np.ndarray], np.ndarray]

# scenario -> (what happens to each query, what happens to each target)
_TRANSFORMS: dict[str, tuple[Transform, Transform]] = {
    "vanilla": (_identity, _identity),
    "crop_query": (crop_query, _identity),
    "stretch_targets": (_identity, stretch_target),
    "crop_stretch": (crop_query, stretch_target),
}


def apply_scenario(
    scenario: str, queries: list[np.ndarray], targets: list[np.ndarray]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Transform lists of query and target segment sequences for one scenario.

    Raises
    ------
    EvaluationError
        If ``scenario`` is not one of :data:`SCENARIOS`.
    """
    if scenario not in _TRANSFORMS:
        raise EvaluationError(f"unknown scenario {scenario!r}; expected one of {SCENARIOS}")
    transform_query, transform_target = _TRANSFORMS[scenario]
    return [transform_query(q) for q in queries], [transform_target(t) for t in targets]
