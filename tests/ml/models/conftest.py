"""Shared fixtures: a small latent paired dataset and tiny training configurations."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml.data.latent_pairs import write_latent_paired_dataset
from ml.training.config import TrainConfig


@pytest.fixture(scope="session")
def latent_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("latent_dataset")
    write_latent_paired_dataset(root, n_clips=100, seed=3)
    return root


def make_tiny_config(kind: str, dataset: Path, out_dir: Path, **overrides) -> TrainConfig:
    """Small widths and a high learning rate: a few seconds per run on CPU."""
    options = dict(
        embedding_dim=16,
        music_hidden=(64,),
        video_hidden=(64,),
        dropout=0.1,
        batch_size=64,
        learning_rate=3e-3,
        max_epochs=12,
        patience=50,
        progress=False,
        device="cpu",
    )
    options.update(overrides)
    return TrainConfig(kind, dataset, out_dir, **options)


@pytest.fixture(scope="session")
def tiny_config():
    """The factory :func:`make_tiny_config` (test modules cannot import conftest)."""
    return make_tiny_config


@pytest.fixture(scope="session")
def trained_segvmnet(latent_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("segvmnet_run")
    from ml.training.trainer import train

    return train(make_tiny_config("segvmnet", latent_dataset, out))
