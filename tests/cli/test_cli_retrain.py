"""`v2m train` again after the data grew: a new run on the new data, and it says so."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from cli.main import main
from ml.data.dataset import load_dataset
from ml.data.latent_pairs import write_latent_paired_dataset
from ml.training.checkpoint import read_checkpoint

# The triplet loop: resuming and setting a run aside are its (CCA refits every time).
TINY_ARGS = [
    "--recipe", "triplet", "--epochs", "2", "--dim", "8", "--music-hidden", "16", "--video-hidden", "16",
    "--batch-size", "16", "--device", "cpu", "--quiet",
]  # fmt: skip


def _train(dataset: Path, work: Path) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "segvmnet", "--dataset", str(dataset), "--work", str(work), *TINY_ARGS])
    return exit_info.value.code


def test_training_again_on_more_clips_trains_a_new_model_and_says_on_what(tmp_path, capsys, caplog):
    data, work = tmp_path / "dataset", tmp_path / "work"
    write_latent_paired_dataset(data, n_clips=20, seed=7)
    assert _train(data, work) == 0
    first = capsys.readouterr().out
    assert "trained on 12 train + 4 val clips" in first

    write_latent_paired_dataset(data, n_clips=40, seed=7)  # more videos, same command
    with caplog.at_level(logging.WARNING):
        assert _train(data, work) == 0
    out = capsys.readouterr().out
    assert "the training data changed (20 -> 40 clips" in caplog.text
    assert "trained on 24 train + 8 val clips" in out
    fingerprint = load_dataset(data).fingerprint()
    assert f"(data {fingerprint[:12]})" in out
    best = read_checkpoint(work / "run" / "best.pt")
    assert best["data_fingerprint"] == fingerprint

    # Once more on the same data: resumes the new run (all epochs done), same model.
    assert _train(data, work) == 0
    assert f"(data {fingerprint[:12]})" in capsys.readouterr().out
    assert len([p for p in (work / "run").iterdir() if p.is_dir()]) == 1
