"""The search fused with training-free evidence: its weight decides, 0 changes nothing."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.index.catalog import CatalogIndex


@dataclass
class Favour:
    """Evidence that one track fits and the others do not; records what it was asked."""

    track_id: int
    weight: float
    asked: list | None = None

    def scores(self, track_ids: np.ndarray) -> np.ndarray:
        self.asked = list(track_ids)
        out = (np.asarray(track_ids) == self.track_id).astype(np.float64)
        out[np.asarray(track_ids) == self.track_id + 1] = np.nan  # no evidence there
        return out


def _index(n: int = 20, dim: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    tracks = rng.normal(size=(n, dim)).astype(np.float32)
    tracks /= np.linalg.norm(tracks, axis=1, keepdims=True)
    index = CatalogIndex(dim, device="cpu")
    index.add_tracks(np.arange(1, n + 1), tracks, np.arange(n + 1))
    return index, tracks


def test_evidence_with_weight_promotes_the_track_it_favours() -> None:
    index, tracks = _index()
    query = tracks[0][None, :]
    plain = index.search(query, 5, "nw_dtw")
    assert plain[0].track_id == 1
    loser = plain[-1].track_id
    evidence = Favour(loser, weight=2.0)
    fused = index.search(query, 5, "nw_dtw", evidence=[evidence])
    assert fused[0].track_id == loser
    assert sorted(evidence.asked) == list(range(1, 21))  # the whole shortlist was asked
    # The raw distance of each hit is still its cost; the score is the fused value.
    by_id = {h.track_id: h for h in index.search(query, 20, "nw_dtw")}
    assert all(h.distance == by_id[h.track_id].distance for h in fused)
    assert [h.score for h in fused] == sorted((h.score for h in fused), reverse=True)


def test_weight_zero_is_the_plain_search() -> None:
    index, tracks = _index()
    query = tracks[3][None, :]
    plain = index.search(query, 8, "nw_dtw")
    off = index.search(query, 8, "nw_dtw", evidence=[Favour(7, weight=0.0)])
    assert [(h.track_id, h.score) for h in off] == [(h.track_id, h.score) for h in plain]
