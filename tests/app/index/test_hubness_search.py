"""The search with a bank of reference queries: CSLS demotes a hub, hits get a match."""

from __future__ import annotations

import numpy as np

from app.index.catalog import CatalogIndex
from ml.ranking import PackedSegments


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _world(seed: int = 0, n: int = 30, dim: int = 32):
    """``n`` one-segment answers; query ``i`` leans towards answer ``i`` and towards what
    every video shares; the last track sits on that shared direction (a hub)."""
    rng = np.random.default_rng(seed)
    answers = _unit(rng.normal(size=(n, dim)))
    common = _unit(rng.normal(size=dim))
    queries = _unit(0.6 * answers + 0.8 * common + 0.1 * rng.normal(size=(n, dim)))
    bank = _unit(0.6 * _unit(rng.normal(size=(100, dim))) + 0.8 * common)
    tracks = np.concatenate([answers, common[None, :]])
    index = CatalogIndex(dim, device="cpu")
    index.add_tracks(np.arange(1, n + 2), tracks, np.arange(n + 2))
    return index, queries, PackedSegments.from_sequences([b[None, :] for b in bank]), common


def test_csls_with_a_bank_demotes_the_track_that_is_near_every_video() -> None:
    index, queries, bank, _ = _world()
    hub = len(queries) + 1
    plain = [index.search(q[None, :], 1, "nw_dtw")[0] for q in queries]
    corrected = [index.search(q[None, :], 1, "nw_dtw", bank=bank)[0] for q in queries]
    assert sum(h.track_id == hub for h in plain) == len(queries)
    assert sum(h.track_id == hub for h in corrected) <= len(queries) // 10
    assert np.mean([h.track_id == i + 1 for i, h in enumerate(corrected)]) >= 0.8
    # Without the correction the bank still scores each hit; the raw cost is kept.
    uncorrected = [index.search(q[None, :], 1, "nw_dtw", bank=bank, csls=False)[0] for q in queries]
    assert [h.track_id for h in uncorrected] == [h.track_id for h in plain]
    assert all(h.distance == p.distance for h, p in zip(uncorrected, plain, strict=True))


def test_match_is_the_share_of_reference_videos_that_fit_worse() -> None:
    index, queries, bank, _ = _world()
    hits = index.search(queries[0][None, :], 5, "nw_dtw", bank=bank)
    assert all(h.match is not None and 0.0 <= h.match <= 100.0 for h in hits)
    # The query's own answer fits it better than almost every reference video fits it.
    own = next(h for h in hits if h.track_id == 1)
    assert own.match >= 90.0
    assert all(h.match is None for h in index.search(queries[0][None, :], 5, "nw_dtw"))


def test_hub_radii_are_kept_between_queries_and_forgotten_when_a_track_changes() -> None:
    index, queries, bank, common = _world()
    first = [index.search(q[None, :], 3, "nw_dtw", bank=bank) for q in queries]
    again = [index.search(q[None, :], 3, "nw_dtw", bank=bank) for q in queries]
    assert [[(h.track_id, h.score) for h in hits] for hits in first] == [
        [(h.track_id, h.score) for h in hits] for hits in again
    ]
    # Track 1 becomes a copy of the hub: a radius kept from its old self (far from every
    # video, so a large bonus) would put it first for every query.
    index.add_tracks([1], common[None, :], [0, 1])
    top = [index.search(q[None, :], 1, "nw_dtw", bank=bank)[0].track_id for q in queries]
    assert top.count(1) <= len(queries) // 10
