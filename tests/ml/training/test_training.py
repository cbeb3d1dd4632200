"""Training on a latent paired dataset: the loss falls, retrieval beats chance, resume
is exact, early stopping stops."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ml.data.dataset import load_dataset
from ml.training.checkpoint import CheckpointError, load_model, read_checkpoint
from ml.training.config import TrainConfig
from ml.training.metrics import MetricsLog, paired_retrieval_ranks
from ml.training.trainer import TrainingError, train


def _log(run_dir: Path) -> list[dict]:
    return MetricsLog(run_dir / "metrics.jsonl").read()


@pytest.mark.slow
def test_segvmnet_loss_falls_and_test_retrieval_beats_chance(trained_segvmnet, latent_dataset):
    log = _log(trained_segvmnet.parent)
    assert len(log) == 12 and [r["epoch"] for r in log] == list(range(12))
    assert log[-1]["train_loss"] < 0.5 * log[0]["train_loss"]
    assert min(r["val_loss"] for r in log) < 0.5 * log[0]["val_loss"]

    model = load_model(trained_segvmnet)
    pairs = load_dataset(latent_dataset).segment_pairs("test")
    with torch.no_grad():
        music = model.embed_music(torch.from_numpy(pairs.music))
        video = model.embed_video(torch.from_numpy(pairs.video))
    # Segment level: the paired music segment among all test segments (chance 0.5).
    ranks = paired_retrieval_ranks(video, music).double()
    assert ranks.mean() / len(ranks) < 0.15
    # Clip level by centroids, the service's first stage: chance mean rank (C+1)/2.
    n_clips = len(pairs.clip_ids)
    index = torch.from_numpy(pairs.clip_index)

    def centroid(e):
        return torch.stack([e[index == c].mean(0) for c in range(n_clips)])

    clip_ranks = paired_retrieval_ranks(centroid(video), centroid(music)).double()
    assert clip_ranks.mean() < 0.3 * (n_clips + 1) / 2
    assert (clip_ranks == 1).double().mean() > 5.0 / n_clips


@pytest.mark.parametrize("pooling", [None, "attention"])
def test_vmnet_clip_level_trains_with_structure_terms(
    latent_dataset, tmp_path, pooling, tiny_config
):
    config = tiny_config(
        "vmnet",
        latent_dataset,
        tmp_path,
        pooling=pooling,
        frames_per_clip=20,
        batch_size=32,
        max_epochs=10,
    )
    assert config.loss_weights().uses_intra_modal
    best = train(config)
    log = _log(tmp_path)
    assert min(r["train_loss"] for r in log[-3:]) < 0.6 * log[0]["train_loss"]
    assert all(r["train_loss_mm"] > 0 or r["train_loss_vv"] > 0 for r in log[:1])
    assert min(r["val_mean_rank_fraction"] for r in log) < 0.3
    assert read_checkpoint(best)["model_config"]["music"]["pooling"] == pooling


def _strip_timing(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def test_resume_continues_identically(latent_dataset, tmp_path, tiny_config):
    straight = tmp_path / "straight"
    interrupted = tmp_path / "interrupted"
    train(tiny_config("segvmnet", latent_dataset, straight, max_epochs=4))
    train(tiny_config("segvmnet", latent_dataset, interrupted, max_epochs=2))
    assert len(_log(interrupted)) == 2
    train(tiny_config("segvmnet", latent_dataset, interrupted, max_epochs=4))

    a = read_checkpoint(straight / "last.pt")
    b = read_checkpoint(interrupted / "last.pt")
    assert a["epoch"] == b["epoch"] == 3
    for key, tensor in a["model_state"].items():
        assert torch.equal(tensor, b["model_state"][key]), key
    assert _strip_timing(_log(straight)) == _strip_timing(_log(interrupted))


def test_resume_drops_log_lines_written_after_the_checkpoint(latent_dataset, tmp_path, tiny_config):
    train(tiny_config("segvmnet", latent_dataset, tmp_path, max_epochs=2))
    with open(tmp_path / "metrics.jsonl", "a") as f:  # an epoch that never checkpointed
        f.write(json.dumps({"epoch": 2, "train_loss": 123.0}) + "\n")
    train(tiny_config("segvmnet", latent_dataset, tmp_path, max_epochs=3))
    log = _log(tmp_path)
    assert [r["epoch"] for r in log] == [0, 1, 2]
    assert log[-1]["train_loss"] != 123.0


def test_resume_refuses_a_different_run(latent_dataset, tmp_path, tiny_config):
    train(tiny_config("segvmnet", latent_dataset, tmp_path, max_epochs=1))
    with pytest.raises(TrainingError, match="learning_rate"):
        train(tiny_config("segvmnet", latent_dataset, tmp_path, max_epochs=2, learning_rate=1e-2))
    # Without resume the directory is started afresh.
    train(
        tiny_config(
            "segvmnet", latent_dataset, tmp_path, max_epochs=1, learning_rate=1e-2, resume=False
        )
    )
    assert len(_log(tmp_path)) == 1


def test_early_stopping_stops_and_keeps_the_best_epoch(latent_dataset, tmp_path, tiny_config):
    # A learning rate so small that validation barely moves: improvement stalls fast
    # when improvements must exceed a large min_delta.
    best = train(
        tiny_config(
            "segvmnet",
            latent_dataset,
            tmp_path,
            max_epochs=30,
            patience=2,
            learning_rate=1e-6,
            min_delta=1.0,
        )
    )
    log = _log(tmp_path)
    assert len(log) == 3  # epoch 0 improves on +inf, then two epochs without improvement
    assert read_checkpoint(best)["epoch"] == 0
    assert read_checkpoint(tmp_path / "last.pt")["epoch"] == 2


def test_configuration_errors(latent_dataset, tmp_path, tiny_config):
    with pytest.raises(ValueError, match="pooling"):
        TrainConfig("segvmnet", latent_dataset, tmp_path, pooling="auto")
    with pytest.raises(ValueError, match="monitor"):
        TrainConfig("segvmnet", latent_dataset, tmp_path, monitor="accuracy")
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig("segvmnet", latent_dataset, tmp_path, batch_size=1)
    with pytest.raises(CheckpointError):
        read_checkpoint(tmp_path / "nothing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        read_checkpoint(tmp_path / "junk.pt")
    if not torch.cuda.is_available():
        with pytest.raises(TrainingError, match="CUDA"):
            train(tiny_config("segvmnet", latent_dataset, tmp_path / "cuda", device="cuda"))


def test_train_config_round_trip(latent_dataset, tmp_path, tiny_config):
    config = tiny_config("vmnet", latent_dataset, tmp_path, pooling="auto")
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown training options"):
        TrainConfig.from_dict({**config.to_dict(), "epochs": 3})


def test_metrics_are_finite_numbers(trained_segvmnet):
    for record in _log(trained_segvmnet.parent):
        for key, value in record.items():
            if isinstance(value, float):
                assert np.isfinite(value), key
