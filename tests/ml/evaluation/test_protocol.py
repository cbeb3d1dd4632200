"""The evaluation protocol end to end on embeddings whose answers we know."""

import json

import numpy as np
import pytest

from ml.evaluation.protocol import (
    COST_LABELS,
    ProtocolReport,
    clip_level_distances,
    evaluate_clip_level,
    run_protocol,
    segment_level_distances,
    vanilla_table_by_segmentation,
    write_report,
)
from ml.evaluation.retrieval import EvaluationError
from ml.evaluation.scenarios import SCENARIOS
from ml.ranking import METHODS


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@pytest.mark.slow  # compiles the ranking kernels on first use
def test_one_segment_clips_are_found_first_by_every_cost():
    # Three clips, one segment each, query = own music exactly, musics orthogonal:
    # every cost and scenario must put the answer at rank 1.
    targets = [np.eye(3, dtype=np.float32)[i : i + 1] for i in range(3)]
    report = run_protocol(targets, targets)
    for scenario in SCENARIOS:
        for method in METHODS:
            scores = report.segment_level[scenario][method]
            assert scores.mean_rank == 1.0 and scores.recall[1] == 1.0


def test_hand_computed_clip_level_baseline():
    queries = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    targets = np.array([[0.1, 0.0], [0.0, 0.0], [0.0, 1.0]])
    # Squared distances, row 0: 0.01, 0, 1 -> answer 0 (0.01) ranks 2.
    # Row 1: 0.81, 1, 2 -> answer 1 (1) ranks 2. Row 2: 4.01, 4, 1 -> answer 2 ranks 1.
    np.testing.assert_allclose(
        clip_level_distances(queries, targets),
        [[0.01, 0.0, 1.0], [0.81, 1.0, 2.0], [4.01, 4.0, 1.0]],
    )
    scores = evaluate_clip_level(queries, targets)
    assert scores.mean_rank == pytest.approx(5 / 3)
    assert scores.recall[1] == pytest.approx(1 / 3)


@pytest.fixture(scope="module")
def structured_report() -> ProtocolReport:
    """40 clips of 6 segments; each query is its own music plus noise, same boundaries."""
    rng = np.random.default_rng(0)
    targets = [_unit(rng.standard_normal((6, 16))) for _ in range(40)]
    queries = [_unit(t + 0.35 * rng.standard_normal(t.shape)) for t in targets]
    clip_q = np.stack([q.mean(axis=0) for q in queries])
    clip_t = np.stack([t.mean(axis=0) for t in targets])
    return run_protocol(
        queries, targets, clip_baselines={"mean": (clip_q, clip_t)}, metadata={"seed": 0}
    )


@pytest.mark.slow  # compiles the ranking kernels on first use
def test_protocol_reproduces_the_expected_pattern_on_ideal_data(structured_report):
    rank = {
        s: {m: r.mean_rank for m, r in by.items()}
        for s, by in structured_report.segment_level.items()
    }
    chance = (40 + 1) / 2
    # Aligned sequences: the diagonal cost is near perfect and far above chance.
    assert rank["vanilla"]["trace"] < 1.5 < chance
    # Cropping shifts the diagonal: best trace finds the offset, trace cannot.
    assert rank["crop_query"]["best_trace"] < rank["crop_query"]["trace"]
    # Stretching breaks the diagonal: NW-DTW absorbs the repeats, trace cannot.
    assert rank["stretch_targets"]["nw_dtw"] < rank["stretch_targets"]["trace"]
    # Complete linkage compares the worst pair: uninformative on random segments.
    assert rank["vanilla"]["complete"] > rank["vanilla"]["trace"]


@pytest.mark.slow  # compiles the ranking kernels on first use
def test_markdown_and_json_shape(structured_report, tmp_path):
    markdown = structured_report.to_markdown()
    assert "| cost | vanilla | crop query | stretch targets | crop+stretch |" in markdown
    for label in COST_LABELS.values():
        assert f"| {label} |" in markdown
    assert "| mean (clip level) |" in markdown
    assert "R@1 | R@10 | R@25 | mean rank [95% CI]" in markdown
    md_path, json_path = write_report(structured_report, tmp_path)
    data = json.loads(json_path.read_text())
    assert md_path.read_text() == markdown
    assert data["n_clips"] == 40 and data["chance"]["mean_rank"] == 20.5
    assert set(data["segment_level"]) == set(SCENARIOS)
    assert set(data["segment_level"]["vanilla"]) == set(METHODS)
    assert data["segment_level"]["vanilla"]["trace"]["recall"]["R@25"] == 1.0
    assert data["clip_level"]["mean"]["n_queries"] == 40
    assert data["metadata"] == {"seed": 0}


@pytest.mark.slow  # compiles the ranking kernels on first use
def test_vanilla_table_by_segmentation(structured_report):
    table = vanilla_table_by_segmentation({"Foote": structured_report, "OLDA": structured_report})
    lines = table.strip().splitlines()
    assert lines[0] == "| cost | Foote | OLDA |"
    assert len(lines) == 2 + len(METHODS)
    assert any(line.startswith("| trace | **") for line in lines)


def test_bad_protocol_inputs_raise():
    seq = np.ones((2, 3), dtype=np.float32)
    with pytest.raises(EvaluationError):
        run_protocol([seq], [seq, seq])
    with pytest.raises(EvaluationError):
        segment_level_distances([seq], [seq], "median")
    with pytest.raises(EvaluationError):
        clip_level_distances(np.ones((2, 3)), np.ones((2, 4)))
