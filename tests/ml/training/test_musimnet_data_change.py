"""MuSimNet resumes a run only on the data it was trained on; other data starts anew."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ml.models.musimnet import MuSimNetConfig
from ml.similarity.mining import MiningConfig
from ml.training.checkpoint import read_checkpoint, save_checkpoint
from ml.training.musimnet import (
    MuSimNetTrainConfig,
    TaggedTracks,
    musimnet_data_fingerprint,
    train_musimnet,
)

TINY_MODEL = MuSimNetConfig("autopool", filters=(2, 4, 4, 4, 4), embedding_dim=8, patch_frames=128)


def _tracks(n: int, seed: int) -> TaggedTracks:
    """``n`` random log-CQTs (96 bins, 140 frames) with weighted tags."""
    rng = np.random.default_rng(seed)
    cqts = [rng.normal(-40, 10, size=(96, 140)).astype(np.float32) for _ in range(n)]
    tags = [{"bright": b, "dark": 1 - b} for b in rng.uniform(0.05, 0.95, size=n)]
    return TaggedTracks(cqts, tags)


def _config(train: TaggedTracks, validation: TaggedTracks, out_dir: Path, **overrides):
    options = {
        "model": TINY_MODEL,
        "mining": MiningConfig("distance", n_positives=2, n_negatives=3),
        "triplets_per_epoch": 8,
        "batch_size": 4,
        "max_epochs": 2,
        "patience": 5,
        "monitor": "val_ndcg",
        "validation_triplets": 0,
        "eval_patches": 1,
        "device": "cpu",
        "progress": False,
    }
    return MuSimNetTrainConfig(train, validation, out_dir, **{**options, **overrides})


def _superseded(run: Path) -> list[Path]:
    return sorted(p for p in run.iterdir() if p.is_dir() and p.name.startswith("superseded."))


def test_fingerprint_is_the_tracks_content():
    train, val = _tracks(6, seed=1), _tracks(4, seed=2)
    same = _tracks(6, seed=1)
    same.names = [f"other_name_{i}.wav" for i in range(6)]  # names are not content
    assert musimnet_data_fingerprint(train, val) == musimnet_data_fingerprint(same, val)
    assert musimnet_data_fingerprint(train, val) != musimnet_data_fingerprint(val, train)
    retagged = _tracks(6, seed=1)
    retagged.tags[0] = {"bright": 0.5, "dark": 0.5}
    assert musimnet_data_fingerprint(retagged, val) != musimnet_data_fingerprint(train, val)
    s = np.eye(6) * 0.5 + 0.5
    by_matrix = TaggedTracks(train.cqts, similarity=s)
    other_matrix = TaggedTracks(train.cqts, similarity=np.where(s == 1, 1.0, 0.25))
    assert musimnet_data_fingerprint(by_matrix, val) != musimnet_data_fingerprint(other_matrix, val)


def test_same_tracks_resume(tmp_path):
    train, val = _tracks(6, seed=1), _tracks(4, seed=2)
    first = train_musimnet(_config(train, val, tmp_path, max_epochs=1))
    again = train_musimnet(_config(_tracks(6, seed=1), val, tmp_path, max_epochs=2))
    assert [h["epoch"] for h in again.history] == [0, 1]
    assert again.history[0] == first.history[0]  # epoch 0 was not trained again
    assert _superseded(tmp_path) == []


def test_changed_tracks_start_a_new_run(tmp_path, caplog):
    val = _tracks(4, seed=2)
    first = train_musimnet(_config(_tracks(6, seed=1), val, tmp_path))
    old = read_checkpoint(tmp_path / "last.pt")

    changed = _tracks(6, seed=1)  # as many tracks, one of them different
    changed.cqts[0] = changed.cqts[0] + 3.0
    with caplog.at_level(logging.WARNING, logger="ml.training.musimnet"):
        again = train_musimnet(_config(changed, val, tmp_path))

    assert again.history != first.history  # trained again, on the new data
    assert [h["epoch"] for h in again.history] == [0, 1]
    best = read_checkpoint(again.path)
    assert best["data_fingerprint"] == musimnet_data_fingerprint(changed, val)
    assert "the training data changed" in caplog.text
    (aside,) = _superseded(tmp_path)
    assert aside.name == f"superseded.{old['data_fingerprint'][:12]}"
    assert read_checkpoint(aside / "last.pt")["history"] == first.history


def test_more_tracks_start_a_new_run_instead_of_refusing(tmp_path):
    val = _tracks(4, seed=2)
    train_musimnet(_config(_tracks(6, seed=1), val, tmp_path))
    grown = _tracks(8, seed=1)
    again = train_musimnet(_config(grown, val, tmp_path))
    best = read_checkpoint(again.path)
    assert best["train_config"]["n_train_tracks"] == 8
    assert best["data_fingerprint"] == musimnet_data_fingerprint(grown, val)


def test_a_checkpoint_without_a_fingerprint_is_other_data(tmp_path):
    train, val = _tracks(6, seed=1), _tracks(4, seed=2)
    train_musimnet(_config(train, val, tmp_path, max_epochs=1))
    for name in ("last.pt", "best.pt"):  # as an older version wrote them
        state = read_checkpoint(tmp_path / name)
        state.pop("data_fingerprint", None)
        state.pop("format")
        save_checkpoint(tmp_path / name, state)
    again = train_musimnet(_config(train, val, tmp_path, max_epochs=2))
    assert [h["epoch"] for h in again.history] == [0, 1]
    assert [p.name for p in _superseded(tmp_path)] == ["superseded.unknown-data"]


def test_a_run_without_resume_keeps_nothing_of_the_earlier_one(tmp_path):
    train, val = _tracks(6, seed=1), _tracks(4, seed=2)
    train_musimnet(_config(train, val, tmp_path, max_epochs=2))
    again = train_musimnet(_config(train, val, tmp_path, max_epochs=1, resume=False))
    log = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(log) == len(again.history) == 1
