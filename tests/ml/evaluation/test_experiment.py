"""The end-to-end experiment on a latent paired dataset: embedding, protocol, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ml.data.dataset import load_dataset
from ml.evaluation.experiment import (
    ExperimentError,
    check_compatible,
    clip_embeddings,
    evaluate_checkpoint,
    segment_embeddings,
)
from ml.evaluation.retrieval import EvaluationError
from ml.evaluation.scenarios import SCENARIOS
from ml.ranking import METHODS
from ml.training.checkpoint import CheckpointError, load_model, read_checkpoint, save_checkpoint

# Every test here uses models trained by the session fixtures (seconds each on CPU).
pytestmark = pytest.mark.slow


def test_segment_embeddings_follow_each_clip_segments(latent_dataset, segvmnet_checkpoint):
    records = load_dataset(latent_dataset).records("test")
    model = load_model(segvmnet_checkpoint)
    embeddings = segment_embeddings(model, records)
    assert embeddings.clip_ids == tuple(r.clip_id for r in records)
    for record, query, target in zip(records, embeddings.queries, embeddings.targets, strict=True):
        assert query.shape == target.shape == (record.n_segments, model.embedding_dim)
        np.testing.assert_allclose(np.linalg.norm(query, axis=1), 1.0, atol=1e-5)
    # The query is the video branch on the video segments, the target the music branch.
    first = records[0]
    with torch.no_grad():
        video = model.embed_video(torch.from_numpy(first.video_segments.astype(np.float32)))
    np.testing.assert_allclose(embeddings.queries[0], video.numpy(), atol=1e-6)


def test_pooled_model_embeds_segments_and_clips(latent_dataset, pooled_vmnet_checkpoint):
    records = load_dataset(latent_dataset).records("test")
    model = load_model(pooled_vmnet_checkpoint)
    embeddings = segment_embeddings(model, records)
    assert [len(q) for q in embeddings.queries] == [r.n_segments for r in records]
    video, music = clip_embeddings(model, records, frames_per_clip=8)
    assert video.shape == music.shape == (len(records), model.embedding_dim)
    # The frame draw is seeded: embedding twice gives the same vectors.
    again, _ = clip_embeddings(model, records, frames_per_clip=8)
    np.testing.assert_array_equal(video, again)


def test_protocol_report_covers_every_cost_and_scenario(
    latent_dataset, segvmnet_checkpoint, pooled_vmnet_checkpoint, tmp_path
):
    report = evaluate_checkpoint(
        latent_dataset,
        segvmnet_checkpoint,
        baselines={"VM-Net": pooled_vmnet_checkpoint},
        out_dir=tmp_path,
    )
    n_test = len(load_dataset(latent_dataset).clip_ids("test"))
    assert report.n_clips == n_test
    assert set(report.segment_level) == set(SCENARIOS)
    for by_method in report.segment_level.values():
        assert set(by_method) == set(METHODS)
    assert set(report.clip_level) == {"VM-Net"}
    assert report.metadata["kind"] == "segvmnet"
    markdown = (tmp_path / "evaluation.md").read_text()
    assert "VM-Net (clip level)" in markdown and "best trace" in markdown
    data = json.loads((tmp_path / "evaluation.json").read_text())
    assert data["n_clips"] == n_test
    assert len(data["metadata"]["clip_ids"]) == n_test


def test_trained_model_beats_chance_and_the_untrained_one(
    latent_dataset, segvmnet_checkpoint, untrained_checkpoint
):
    trained = evaluate_checkpoint(latent_dataset, segvmnet_checkpoint, scenarios=("vanilla",))
    untrained = evaluate_checkpoint(latent_dataset, untrained_checkpoint, scenarios=("vanilla",))
    chance = (trained.n_clips + 1) / 2
    trained_rank = trained.segment_level["vanilla"]["trace"].mean_rank
    untrained_rank = untrained.segment_level["vanilla"]["trace"].mean_rank
    assert trained_rank < 0.4 * chance
    assert trained_rank < 0.6 * untrained_rank


def test_mismatched_extractors_are_refused(latent_dataset, segvmnet_checkpoint, tmp_path):
    state = read_checkpoint(segvmnet_checkpoint)
    state["dataset"]["video_extractor"]["name"] = "imagenet-resnet50"
    other = save_checkpoint(
        tmp_path / "other.pt", {k: v for k, v in state.items() if k != "format"}
    )
    with pytest.raises(ExperimentError, match="video_extractor"):
        evaluate_checkpoint(latent_dataset, other)
    with pytest.raises(ExperimentError, match="baseline"):
        evaluate_checkpoint(latent_dataset, segvmnet_checkpoint, baselines={"x": other})
    del state["dataset"]["audio_extractor"]
    with pytest.raises(ExperimentError, match="does not record"):
        check_compatible(state, load_dataset(latent_dataset), "it")
    assert issubclass(ExperimentError, EvaluationError)


def test_bad_inputs_raise_documented_errors(latent_dataset, segvmnet_checkpoint, tmp_path):
    with pytest.raises(CheckpointError):
        evaluate_checkpoint(latent_dataset, tmp_path / "missing.pt")
    with pytest.raises(ExperimentError, match="no clips"):
        segment_embeddings(load_model(segvmnet_checkpoint), [])
    with pytest.raises(Exception, match="manifest"):
        evaluate_checkpoint(tmp_path, segvmnet_checkpoint)


def test_checkpoint_path_may_be_a_string(latent_dataset, segvmnet_checkpoint):
    report = evaluate_checkpoint(
        str(latent_dataset), str(segvmnet_checkpoint), methods=("centroid",), scenarios=("vanilla",)
    )
    assert list(report.segment_level["vanilla"]) == ["centroid"]
    assert Path(report.metadata["checkpoint"]) == Path(segvmnet_checkpoint)
