"""The closed-form recipe (ml.training.cca) and its runs through ml.training.trainer."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ml.data.latent_pairs import write_latent_paired_dataset
from ml.export import export_checkpoint, load_registry_entry
from ml.training.cca import (
    SHRINKAGE_GRID,
    cross_validated_shrinkage,
    fit_cca,
)
from ml.training.checkpoint import load_model, read_checkpoint
from ml.training.config import TrainConfig
from ml.training.trainer import AUTO_COMPARE_VAL_CLIPS, fit_cca_run, train


def planted(n: int, rng: np.random.Generator, noise: float = 0.3):
    """Music (n, 20) and video (n, 12) rows that share a 3-dimensional latent."""
    z = rng.normal(size=(n, 3))
    music = z @ rng.normal(size=(3, 20)) + noise * rng.normal(size=(n, 20))
    video = z @ rng.normal(size=(3, 12)) + noise * rng.normal(size=(n, 12))
    return music, video


def test_cca_finds_the_shared_directions_and_they_retrieve_held_out_pairs():
    rng = np.random.default_rng(0)
    music, video = planted(400, rng)
    cca = fit_cca(music[:300], video[:300], shrinkage=0.1)
    assert cca.dim == 12 and cca.music.shape == (20, 12) and cca.video.shape == (12, 12)
    assert np.all(np.diff(cca.correlations) <= 1e-12)  # largest first
    assert cca.correlations[2] > 3 * cca.correlations[3]  # three shared directions
    mean_m, mean_v = music[:300].mean(axis=0), video[:300].mean(axis=0)
    m = cca.embed(music[300:] - mean_m, "music")
    v = cca.embed(video[300:] - mean_v, "video")
    top1 = np.argmax(v @ m.T, axis=1) == np.arange(100)
    assert top1.mean() > 0.3  # chance is 0.01
    assert np.allclose(np.linalg.norm(m, axis=1), 1.0)


def test_cca_refuses_bad_input():
    rng = np.random.default_rng(1)
    music, video = planted(10, rng)
    with pytest.raises(ValueError, match="paired"):
        fit_cca(music, video[:9], 0.5)
    with pytest.raises(ValueError, match="shrinkage"):
        fit_cca(music, video, 0.0)
    music[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fit_cca(music, video, 0.5)


def test_cross_validation_scores_every_shrinkage_on_held_out_clips():
    rng = np.random.default_rng(2)
    music, video = planted(120, rng, noise=1.0)
    clips = np.repeat(np.arange(30), 4)
    best, scores = cross_validated_shrinkage(music, video, clips)
    assert set(scores) == set(SHRINKAGE_GRID) and best in scores
    assert scores[best] == min(scores.values())
    # The rows of each fold rank among themselves: 6 clips x 4 segments a fold.
    assert all(1.0 <= s <= 24.0 for s in scores.values())
    assert scores[best] < 0.5 * 12.5  # well under chance
    few = cross_validated_shrinkage(music[:12], video[:12], clips[:12])
    assert few == (SHRINKAGE_GRID[len(SHRINKAGE_GRID) // 2], {})


def test_a_cca_run_is_a_seg_vm_net_that_exports_and_embeds_as_fitted(latent_dataset, tmp_path):
    config = TrainConfig("segvmnet", latent_dataset, tmp_path / "run", recipe="cca", device="cpu")
    best = fit_cca_run(config)
    state = read_checkpoint(best)
    assert state["train_config"]["recipe"] == "cca"
    assert state["train_config"]["music_hidden"] == [] == state["train_config"]["video_hidden"]
    assert state["metrics"]["val_mean_rank_fraction"] < 0.25  # chance is about 0.5
    record = json.loads((tmp_path / "run" / "metrics.jsonl").read_text())
    assert record["cca_shrinkage"] in SHRINKAGE_GRID and record["recipe"] == "cca"
    model = load_model(best)
    linear = [m for m in model.music.mlp if isinstance(m, torch.nn.Linear)]
    assert len(linear) == 1 and linear[0].out_features == model.embedding_dim == 16
    # The exported branches give the same vectors as the checkpoint's model.
    entry = load_registry_entry(export_checkpoint(best, tmp_path / "model"))
    x = np.random.default_rng(3).normal(size=(5, 16)).astype(np.float32)
    with torch.no_grad():
        expected = model.embed_video(torch.as_tensor(x)).numpy()
    assert np.allclose(entry.encoder("video", "cpu").embed(x), expected, atol=1e-5)


def test_a_cca_run_sets_a_triplet_run_in_its_folder_aside(latent_dataset, tiny_config, tmp_path):
    out = tmp_path / "run"
    train(tiny_config("segvmnet", latent_dataset, out, max_epochs=1))
    fit_cca_run(TrainConfig("segvmnet", latent_dataset, out, recipe="cca", device="cpu"))
    assert not (out / "last.pt").exists()
    assert read_checkpoint(out / "best.pt")["train_config"]["recipe"] == "cca"
    aside = [p for p in out.iterdir() if p.name.startswith("superseded.")]
    assert len(aside) == 1 and (aside[0] / "last.pt").is_file()


def test_cca_takes_no_pooling(latent_dataset, tmp_path):
    with pytest.raises(ValueError, match="pooling"):
        TrainConfig("vmnet", latent_dataset, tmp_path, recipe="cca", pooling="mean")


def test_auto_keeps_cca_for_few_validation_clips(tiny_config, tmp_path):
    data = tmp_path / "data"
    write_latent_paired_dataset(data, n_clips=40, seed=6)  # 8 validation clips
    few = train(tiny_config("segvmnet", data, tmp_path / "run", recipe="auto"))
    state = read_checkpoint(few)
    assert state["dataset"]["n_clips"]["val"] < AUTO_COMPARE_VAL_CLIPS
    assert state["train_config"]["recipe"] == "cca"
    assert not (tmp_path / "run" / "triplet").exists()


def test_auto_chooses_on_validation_when_there_are_enough_clips(tiny_config, tmp_path):
    data = tmp_path / "data"
    write_latent_paired_dataset(data, n_clips=100, seed=7, split_fractions=(0.6, 0.3, 0.1))
    best = train(tiny_config("segvmnet", data, tmp_path / "run", recipe="auto", max_epochs=2))
    log = [
        json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    ]
    choice = log[-1]
    ranks = choice["val_mean_rank_by_recipe"]
    assert choice["recipe_chosen"] == min(ranks, key=ranks.get)
    assert read_checkpoint(best)["train_config"]["recipe"] == choice["recipe_chosen"]
    assert (tmp_path / "run" / "triplet" / "best.pt").is_file()
