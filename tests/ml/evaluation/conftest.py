"""Fixtures of the end-to-end experiment: a latent paired dataset with trained tiny
models (fast)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml.data.latent_pairs import write_latent_paired_dataset
from ml.training.config import TrainConfig
from ml.training.trainer import train

TINY = {
    "recipe": "triplet",
    "embedding_dim": 16,
    "music_hidden": (64,),
    "video_hidden": (64,),
    "dropout": 0.1,
    "batch_size": 64,
    "learning_rate": 3e-3,
    "max_epochs": 12,
    "patience": 50,
    "progress": False,
    "device": "cpu",
}


@pytest.fixture(scope="session")
def latent_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("experiment_latent")
    write_latent_paired_dataset(root, n_clips=120, seed=5, split_fractions=(0.6, 0.1, 0.3))
    return root


@pytest.fixture(scope="session")
def segvmnet_checkpoint(latent_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("experiment_segvmnet")
    return train(TrainConfig("segvmnet", latent_dataset, out, **TINY))


@pytest.fixture(scope="session")
def untrained_checkpoint(latent_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One epoch at a learning rate too small to learn: the chance-level reference."""
    out = tmp_path_factory.mktemp("experiment_untrained")
    options = {**TINY, "max_epochs": 1, "learning_rate": 1e-12}
    return train(TrainConfig("segvmnet", latent_dataset, out, **options))


@pytest.fixture(scope="session")
def pooled_vmnet_checkpoint(latent_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("experiment_vmnet")
    options = {**TINY, "max_epochs": 4, "frames_per_clip": 8, "batch_size": 32}
    return train(TrainConfig("vmnet", latent_dataset, out, pooling="mean", **options))
