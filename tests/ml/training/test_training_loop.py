"""The one training loop: one patience rule, one rank, one set of files and checkpoint
keys for every model kind, and checkpoints written before the loops were one."""

from __future__ import annotations

import logging

import numpy as np
import torch

from ml.metrics.ranks import answer_ranks
from ml.models.musimnet import MuSimNetConfig
from ml.similarity.mining import MiningConfig
from ml.training.checkpoint import read_checkpoint, save_checkpoint
from ml.training.metrics import MetricsLog, paired_retrieval_ranks
from ml.training.musimnet import MuSimNetTrainConfig, TaggedTracks, train_musimnet
from ml.training.resume import RunData, data_change_reason, differing_settings
from ml.training.stopping import EarlyStopping
from ml.training.trainer import train

TINY_MUSIMNET = MuSimNetConfig(
    "autopool", filters=(2, 4, 4, 4, 4), embedding_dim=8, patch_frames=128
)


def _tracks(n: int, seed: int) -> TaggedTracks:
    rng = np.random.default_rng(seed)
    cqts = [rng.normal(-40, 10, size=(96, 140)).astype(np.float32) for _ in range(n)]
    tags = [{"bright": b, "dark": 1 - b} for b in rng.uniform(0.05, 0.95, size=n)]
    return TaggedTracks(cqts, tags)


def _musimnet_config(out_dir, **overrides) -> MuSimNetTrainConfig:
    options = {
        "model": TINY_MUSIMNET,
        "mining": MiningConfig("distance", n_positives=2, n_negatives=3),
        "triplets_per_epoch": 8,
        "batch_size": 4,
        "max_epochs": 2,
        "monitor": "val_ndcg",
        "validation_triplets": 0,
        "eval_patches": 1,
        "device": "cpu",
        "progress": False,
    }
    return MuSimNetTrainConfig(_tracks(6, 1), _tracks(4, 2), out_dir, **{**options, **overrides})


# -- early stopping ----------------------------------------------------------------------


def test_patience_counts_epochs_since_the_best():
    stop = EarlyStopping("val_loss", patience=2)
    assert stop.update(0, 1.0) and stop.best_epoch == 0
    assert not stop.update(1, 1.5)
    assert not stop.should_stop(2)  # one epoch without improvement
    assert not stop.update(2, 1.0)  # equal is not better
    assert stop.should_stop(3)  # epochs 1 and 2 did not improve
    assert stop.update(3, 0.5) and not stop.should_stop(4)


def test_min_delta_direction_and_non_finite_values():
    higher = EarlyStopping("val_ndcg", patience=1, higher_is_better=True, min_delta=0.1)
    assert higher.update(0, 0.5)
    assert not higher.update(1, 0.55)  # better, but by less than min_delta
    assert higher.update(2, 0.7) and higher.best_value == 0.7
    never = EarlyStopping("val_loss", patience=2)
    assert not never.update(0, float("nan")) and not never.update(1, float("inf"))
    assert never.best_epoch == -1 and never.should_stop(2)  # nothing improved for 2 epochs


# -- resume rules ------------------------------------------------------------------------


def test_data_change_reasons_say_what_differs():
    data = RunData("b" * 64, {"train": 40, "val": 10, "test": 10}, "clips")
    old = {"kind": "segvmnet", "data_fingerprint": "a" * 64}
    sizes = {"train": 20, "val": 5, "test": 5}
    assert data_change_reason(old, sizes, "segvmnet", data) == (
        "the training data changed (30 -> 60 clips; 20 train, 5 val -> 40 train, 10 val)"
    )
    assert data_change_reason({"kind": "segvmnet"}, sizes, "segvmnet", data) == (
        "the checkpoint does not record which data it was trained on (30 clips: 20 train, 5 val)"
    )
    assert data_change_reason(old, None, "musimnet", data) == (
        "the run there trained a segvmnet, not a musimnet"
    )
    assert differing_settings({"lr": 1, "max_epochs": 3}, {"lr": 2, "max_epochs": 9}) == ["lr"]


# -- one rank ----------------------------------------------------------------------------


def test_validation_ranks_are_the_evaluation_ranks_ties_included():
    rng = np.random.default_rng(0)
    queries = torch.from_numpy(rng.normal(size=(37, 4)).astype(np.float32))
    targets = torch.from_numpy(rng.normal(size=(37, 4)).astype(np.float32))
    targets[5] = targets[6]  # two identical candidates: a tie for queries 5 and 6
    chunked = paired_retrieval_ranks(queries, targets, chunk=8)
    distances = torch.cdist(queries, targets).pow(2).numpy()
    np.testing.assert_array_equal(chunked.numpy(), answer_ranks(distances))
    # Each of queries 5 and 6 has its answer tied with one other candidate: x.5.
    assert chunked[5] % 1 == 0.5 and chunked[6] % 1 == 0.5
    # Constant embeddings: every candidate ties, so every rank is chance, (N + 1) / 2.
    same = torch.ones(9, 3)
    np.testing.assert_array_equal(paired_retrieval_ranks(same, same).numpy(), np.full(9, 5.0))


# -- one loop for every kind -------------------------------------------------------------

COMMON_KEYS = {
    "format",
    "kind",
    "model_config",
    "model_state",
    "optimizer_state",
    "epoch",
    "best_epoch",
    "best_value",
    "monitor",
    "metrics",
    "history",
    "train_config",
    "data_fingerprint",
}


def test_both_kinds_write_the_same_files_records_and_keys(latent_dataset, tmp_path, tiny_config):
    two_branch = tmp_path / "segvmnet"
    train(tiny_config("segvmnet", latent_dataset, two_branch, max_epochs=2))
    result = train_musimnet(_musimnet_config(tmp_path / "musimnet"))
    assert result.path == tmp_path / "musimnet" / "best.pt"
    for run in (two_branch, tmp_path / "musimnet"):
        assert {p.name for p in run.iterdir()} == {"last.pt", "best.pt", "metrics.jsonl"}
        log = MetricsLog(run / "metrics.jsonl").read()
        assert [r["epoch"] for r in log] == [0, 1]
        assert {"best_epoch", "improved", "seconds", "train_loss"} <= set(log[0])
        last = read_checkpoint(run / "last.pt")
        assert COMMON_KEYS <= set(last) and last["epoch"] == 1 and last["history"] == log
    assert result.history == MetricsLog(tmp_path / "musimnet" / "metrics.jsonl").read()
    assert set(read_checkpoint(two_branch / "last.pt")) - COMMON_KEYS == {"dataset"}


def test_a_run_of_another_kind_is_set_aside(latent_dataset, tmp_path, tiny_config, caplog):
    train(tiny_config("segvmnet", latent_dataset, tmp_path, max_epochs=1))
    with caplog.at_level(logging.WARNING):
        result = train_musimnet(_musimnet_config(tmp_path, max_epochs=1))
    assert "the run there trained a segvmnet, not a musimnet" in caplog.text
    assert read_checkpoint(result.path)["kind"] == "musimnet"
    (aside,) = [p for p in tmp_path.iterdir() if p.name.startswith("superseded.")]
    assert read_checkpoint(aside / "best.pt")["kind"] == "segvmnet"


def test_musimnet_in_memory_returns_the_best_epoch():
    result = train_musimnet(_musimnet_config(None, max_epochs=3, patience=1))
    assert result.path is None
    assert result.history[result.best_epoch]["improved"]
    best = max(r["val_ndcg"] for r in result.history)
    assert result.history[result.best_epoch]["val_ndcg"] == best


# -- checkpoints written before the loops were one ---------------------------------------


def _as_before(state: dict) -> dict:
    """A two-branch checkpoint as the earlier trainer wrote it: no ``history`` and
    ``best_value``, but ``best_metric`` and ``epochs_without_improvement``."""
    old = {k: v for k, v in state.items() if k not in ("format", "history", "best_value")}
    old["best_metric"] = state["best_value"]
    old["epochs_without_improvement"] = state["epoch"] - state["best_epoch"]
    return old


def test_an_earlier_two_branch_run_resumes_exactly(latent_dataset, tmp_path, tiny_config):
    straight, earlier = tmp_path / "straight", tmp_path / "earlier"
    train(tiny_config("segvmnet", latent_dataset, straight, max_epochs=3))
    train(tiny_config("segvmnet", latent_dataset, earlier, max_epochs=2))
    for name in ("last.pt", "best.pt"):
        save_checkpoint(earlier / name, _as_before(read_checkpoint(earlier / name)))
    assert "history" not in read_checkpoint(earlier / "last.pt")

    train(tiny_config("segvmnet", latent_dataset, earlier, max_epochs=3))
    a, b = read_checkpoint(straight / "last.pt"), read_checkpoint(earlier / "last.pt")
    for key, tensor in a["model_state"].items():
        assert torch.equal(tensor, b["model_state"][key]), key

    def strip(records):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in records]

    assert strip(b["history"]) == strip(a["history"])  # the history came from the log
    assert [p for p in earlier.iterdir() if p.name.startswith("superseded.")] == []


def test_an_earlier_two_branch_checkpoint_still_exports(trained_segvmnet, latent_dataset, tmp_path):
    from ml.data.dataset import load_dataset
    from ml.export import PARITY_TOLERANCE, export_checkpoint, load_registry_entry
    from ml.training.checkpoint import load_model

    before = save_checkpoint(
        tmp_path / "before" / "best.pt", _as_before(read_checkpoint(trained_segvmnet))
    )
    entry = load_registry_entry(export_checkpoint(before, tmp_path / "model"))
    assert entry.kind == "segvmnet"
    assert entry.data["training"]["best_epoch"] == read_checkpoint(before)["best_epoch"]
    model = load_model(before)
    pairs = load_dataset(latent_dataset).segment_pairs("test")
    with torch.no_grad():
        expected = model.video(torch.from_numpy(pairs.video)).numpy()
    got = entry.encoder("video", device="cpu").embed(pairs.video)
    assert np.abs(got - expected).max() <= PARITY_TOLERANCE
