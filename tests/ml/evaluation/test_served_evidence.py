"""The served evaluation scores each kind of evidence alone and fused as served."""

from __future__ import annotations

import numpy as np

from ml.evaluation.served import evaluate_served


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_structure_is_scored_alone_and_fused_beside_the_beats() -> None:
    rng = np.random.default_rng(0)
    n = 12
    tracks = [_unit(rng.normal(size=(3, 8))) for _ in range(n)]
    queries = [_unit(rng.normal(size=(4, 8))) for _ in range(n)]  # the model knows nothing
    structure = rng.uniform(-0.2, 0.2, size=(n, n))
    structure[np.arange(n), np.arange(n)] = 0.9  # the picture repeats like its music
    beats = np.full((n, n), np.nan)  # no beats anywhere

    report = evaluate_served(
        queries, tracks, ["centroid"], evidence=beats, sync_weight=1.0, structure=structure
    )
    scores = {(s.method, s.hubness): s for s in report.scores}
    assert set(scores) == {
        ("beat_grid", "none"),
        ("structure", "none"),
        ("centroid", "none"),
        ("centroid", "none+sync"),
    }
    assert scores[("structure", "none")].mean_rank == 1.0
    assert scores[("centroid", "none+sync")].mean_rank < scores[("centroid", "none")].mean_rank
    assert report.metadata["structure_weight"] > 0

    off = evaluate_served(queries, tracks, ["centroid"], structure=structure, structure_weight=0.0)
    assert ("centroid", "none+sync") not in {(s.method, s.hubness) for s in off.scores}
