"""Two-stage search: a centroid shortlist from FAISS, then a rerank with a cost.

Stage 1 asks the :class:`~app.index.centroids.CentroidIndex` for the
``shortlist`` tracks whose centroid is closest to the query's centroid, among the
tracks passing the metadata filters. Stage 2 computes the chosen cost of
docs/method.md §5 (:func:`ml.ranking.batch_distances`, a parallel Numba
kernel) between the query's segments and each shortlisted track's segments, and
keeps the ``k`` lowest. Only those ``k`` get an alignment (which track segment
lies under which query segment), which is the costly part to explain.

The shortlist size trades speed for recall: the rerank cost grows linearly with
it, and a true match whose centroid ranks beyond it is lost.

With a bank of reference queries (the model's training videos), the rerank is
corrected for hubness (CSLS, :mod:`ml.ranking.hubness`): each shortlisted track's
distance is lowered by half its hub radius, the mean of its ``CSLS_K`` smallest
distances to the bank queries under the same cost, so a track that is near every
video stops coming first for all of them. The same bank distances give each hit a
0-100 match: the share of the reference videos that fit the track worse than the query.

With training-free :class:`Evidence` (how well the video's cuts sit on each track's
beats, :mod:`ml.sync.beat_grid`; how well its picture repeats where the music does,
:mod:`ml.sync.structure`), each with a positive weight, the corrected distances are
fused with them over the shortlist (:func:`ml.ranking.fusion.fuse_evidences`) before
the ``k`` best are kept; each hit's score is then the fused one. Evidence is asked for
the shortlist in its corrected order, best first, so that evidence too costly for a
whole shortlist can score only its leaders.

With preferred automatic tags (``prefer``, e.g. ``("mellow", "acoustic")``), the
shortlist is steered last (:func:`steer_by_tags`): the ranking values are
standardised over the shortlist and each track's value is lowered by at most
:data:`PREFER_WEIGHT` standard deviations, in proportion to its mean confidence on the
preferred tags (relative to the shortlist's best). Without ``prefer`` nothing changes.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from app.index.centroids import CentroidIndex
from app.index.errors import DimensionMismatchError, InvalidSearchError
from app.index.metadata import MetadataColumns, SearchFilters
from app.index.segment_store import SegmentStore, normalize_rows
from ml.ranking import (
    METHODS,
    Alignment,
    PackedSegments,
    align,
    batch_distances,
    distance_matrix,
)
from ml.ranking.fusion import fuse_evidences
from ml.ranking.hubness import DEFAULT_CSLS_K, bank_percentile, csls_distances, hub_radius

__all__ = [
    "METHODS",
    "PREFER_WEIGHT",
    "Evidence",
    "Hit",
    "rerank_shortlist",
    "steer_by_tags",
    "two_stage_search",
    "validate_search",
]

#: The largest bonus of preferred automatic tags, in standard deviations of the
#: shortlist's ranking values: a track can overtake those at most this far ahead.
PREFER_WEIGHT = 0.5


def steer_by_tags(ranked: np.ndarray, preference: np.ndarray) -> np.ndarray:
    """``(n,)`` ranking values (lower is better) steered by preferred tags.

    ``z(ranked) - PREFER_WEIGHT * preference / max(preference)``: ``ranked``
    standardised over the shortlist (centred only when all equal), and ``preference``
    (``(n,)`` in [0, 1], the mean confidence on the preferred tags) scaled so that the
    shortlist's best-matching track gets the whole bonus. All-zero preferences leave
    the order as it was.
    """
    ranked = np.asarray(ranked, dtype=np.float64)
    preference = np.asarray(preference, dtype=np.float64)
    if ranked.shape != preference.shape:
        raise ValueError(f"{ranked.shape} ranking values for {preference.shape} preferences")
    spread = ranked.std()
    z = (ranked - ranked.mean()) / (spread if spread > 0 else 1.0)
    best = preference.max(initial=0.0)
    return z - PREFER_WEIGHT * (preference / best if best > 0 else preference)


class Evidence(Protocol):
    """Training-free evidence about a query's fit to catalog tracks."""

    #: Its weight against the learned distance (0: unused).
    weight: float

    def scores(self, track_ids: np.ndarray) -> np.ndarray:
        """``(n,)`` one score per track id, higher is better, NaN where none."""
        ...


@dataclass(frozen=True)
class Hit:
    """One recommended track.

    Attributes
    ----------
    track_id
        The catalog's track id.
    rank
        1 for the best track.
    score
        Higher is better, comparable only within one query: ``-distance`` (after the
        hubness correction), or the fused ranking value with evidence.
    distance
        The cost of ``method`` (lower is better; the DTWs' negated score).
    centroid_similarity
        Cosine similarity of the query and track centroids (the shortlist stage).
    alignment
        :func:`ml.ranking.align`'s answer for this track: (track segment, query
        segment) pairs, best-trace offset, the spans used (Smith-Waterman's local
        match), or None when not requested.
    match
        0-100: the share of the bank's reference videos that fit this track worse than
        the query (None without a bank).
    """

    track_id: int
    rank: int
    score: float
    distance: float
    centroid_similarity: float
    alignment: Alignment | None = None
    match: float | None = None


def validate_search(query: np.ndarray, dim: int, k: int, method: str, shortlist: int) -> np.ndarray:
    """Check the search arguments; return the query as unit float32 rows.

    Raises
    ------
    InvalidSearchError
        ``k`` or ``shortlist`` is not a positive integer, or ``method`` is unknown.
    InvalidEmbeddingsError
        The query is not a non-empty 2-D array of finite, non-zero rows.
    DimensionMismatchError
        The query's dimension is not the index's.
    """
    for name, value in (("k", k), ("shortlist", shortlist)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise InvalidSearchError(f"{name} must be a positive integer, got {value!r}")
    if method not in METHODS:
        raise InvalidSearchError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    query = normalize_rows(query)
    if query.shape[1] != dim:
        raise DimensionMismatchError(
            f"query embeddings of dimension {query.shape[1]}, the catalog's model has {dim}"
        )
    return query


def allowed_track_ids(
    store: SegmentStore, metadata: MetadataColumns, filters: SearchFilters | None
) -> np.ndarray | None:
    """Sorted ids of the live tracks passing ``filters`` (None: no filter at all)."""
    if filters is None or filters.is_empty:
        return None
    keep = metadata.mask(filters) & store.alive
    return np.sort(store.track_ids[keep])


def two_stage_search(
    query: np.ndarray,
    *,
    centroids: CentroidIndex,
    store: SegmentStore,
    metadata: MetadataColumns,
    k: int = 10,
    method: str = "nw_dtw",
    shortlist: int = 1000,
    filters: SearchFilters | None = None,
    indel: float | None = None,
    with_alignment: bool = True,
    alignment_method: str | None = None,
    bank: PackedSegments | None = None,
    csls: bool = True,
    radii: HubRadii | None = None,
    evidence: Sequence[Evidence] = (),
    prefer: tuple[str, ...] = (),
) -> list[Hit]:
    """Rank the catalog for one query sequence of segment embeddings ``(Kq, d)``.

    Returns at most ``k`` hits, fewer only when fewer tracks pass the filters.
    ``shortlist`` is raised to ``k`` if smaller. Ties in the cost keep the
    shortlist's order (best centroid first). With a ``bank`` of reference queries,
    hits get a match score, and with ``csls`` the rerank is corrected for hubness;
    ``radii`` keeps the tracks' hub radii from one query to the next; ``evidence``
    with a positive weight is fused into the rerank; ``prefer`` (automatic tag names)
    steers the shortlist last (:func:`steer_by_tags`). The hits' alignments are those of
    ``alignment_method`` (default: ``method``), for a ranking cost that says nothing
    of where the video fits in a track (the centroid).
    """
    query = validate_search(query, store.dim, k, method, shortlist)
    allowed = allowed_track_ids(store, metadata, filters)
    if allowed is not None and len(allowed) == 0:
        return []
    ids, sims = centroids.search(query.mean(axis=0), max(shortlist, k), allowed)
    return rerank_shortlist(
        query,
        ids,
        sims,
        store=store,
        metadata=metadata,
        k=k,
        method=method,
        indel=indel,
        with_alignment=with_alignment,
        alignment_method=alignment_method,
        bank=bank,
        csls=csls,
        radii=radii,
        evidence=evidence,
        prefer=prefer,
    )


def rerank_shortlist(
    query: np.ndarray,
    ids: np.ndarray,
    sims: np.ndarray,
    *,
    store: SegmentStore,
    metadata: MetadataColumns,
    k: int = 10,
    method: str = "nw_dtw",
    indel: float | None = None,
    with_alignment: bool = True,
    alignment_method: str | None = None,
    bank: PackedSegments | None = None,
    csls: bool = True,
    radii: HubRadii | None = None,
    evidence: Sequence[Evidence] = (),
    prefer: tuple[str, ...] = (),
) -> list[Hit]:
    """Stage 2 of :func:`two_stage_search`: rerank a shortlist, keep the ``k`` best.

    ``query`` is the validated ``(Kq, d)`` unit rows; ``ids`` ``(n,)`` the shortlisted
    track ids, best centroid first, and ``sims`` their ``(n,)`` centroid cosine
    similarities. ``store`` and ``metadata`` must hold every shortlisted track (the
    whole catalog, or only the shortlist when the shortlist comes from elsewhere, as
    with :class:`app.index.milvus.MilvusCatalogIndex`); the other arguments are those
    of :func:`two_stage_search`.
    """
    if len(ids) == 0:
        return []
    slots = store.slots(ids)
    distances = batch_distances(query, store.packed(), slots, method, indel=indel)
    ranked = distances.astype(np.float64)
    with_bank = bank is not None and bank.n_tracks > 0
    if with_bank and csls:
        radii = radii or HubRadii()
        ranked = csls_distances(ranked, radii.of(bank, store, ids, method, indel))
    ranked = fuse_with_evidence(ranked, ids, evidence)
    if prefer:
        ranked = steer_by_tags(ranked, metadata.preference(slots, prefer))
    best = np.argsort(ranked, kind="stable")[:k]
    matches = (
        bank_percentile(
            distances[best], distance_matrix(bank, store.packed(), slots[best], method, indel=indel)
        )
        if with_bank
        else None
    )
    hits = []
    for rank, i in enumerate(best, start=1):
        track_id = int(ids[i])
        alignment = (
            _align(query, store.segments(track_id), alignment_method or method, indel)
            if with_alignment
            else None
        )
        hits.append(
            Hit(
                track_id=track_id,
                rank=rank,
                score=-float(ranked[i]),
                distance=float(distances[i]),
                centroid_similarity=float(sims[i]),
                alignment=alignment,
                match=None if matches is None else round(float(matches[rank - 1]), 1),
            )
        )
    return hits


def fuse_with_evidence(
    ranked: np.ndarray, ids: np.ndarray, evidence: Sequence[Evidence] | None
) -> np.ndarray:
    """``ranked`` ``(n,)`` (lower is better) fused with every evidence of positive
    weight about the tracks ``ids`` ``(n,)``; unchanged without any. Each evidence is
    asked for the tracks in the order of ``ranked``, best first."""
    used = [e for e in evidence or () if e.weight > 0]
    if not used:
        return ranked
    order = np.argsort(ranked, kind="stable")
    pairs = []
    for item in used:
        scores = np.empty(len(ids))
        scores[order] = item.scores(ids[order])
        pairs.append((scores, item.weight))
    return fuse_evidences(ranked, pairs)


#: Neighbourhood of the hub radius: the bank queries nearest to a track.
CSLS_K = DEFAULT_CSLS_K


class HubRadii:
    """The CSLS hub radius of each track, computed once per bank, cost and track.

    A track's radius depends only on its own segments and the bank, not on the query:
    the bank distances of a 1,000-track shortlist cost about 250 reranks (some 100 ms),
    so they are computed for the tracks not seen yet and kept. The index that owns this
    cache clears it whenever its tracks change. Safe for concurrent searches: a radius
    computed twice is the same value.
    """

    def __init__(self) -> None:
        self._values: weakref.WeakKeyDictionary[PackedSegments, dict[tuple, float]] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    def of(
        self,
        bank: PackedSegments,
        store: SegmentStore,
        track_ids: np.ndarray,
        method: str,
        indel: float | None,
    ) -> np.ndarray:
        """``(n,)`` radii of ``track_ids`` under ``method``."""
        with self._lock:
            known = self._values.setdefault(bank, {})
        keys = [(method, indel, int(t)) for t in track_ids]
        missing = [i for i, key in enumerate(keys) if key not in known]
        if missing:
            new = hub_radius(
                distance_matrix(
                    bank, store.packed(), store.slots(track_ids[missing]), method, indel=indel
                ),
                CSLS_K,
            )
            known.update({keys[i]: float(r) for i, r in zip(missing, new)})
        return np.array([known[key] for key in keys])

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


def _align(query: np.ndarray, segments: np.ndarray, method: str, indel: float | None) -> Alignment:
    return align(query, segments.astype(np.float32), method, indel=indel)
