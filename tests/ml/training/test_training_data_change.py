"""A resumed run is the same run: same training data, else a new run.

Training again in the same ``out_dir`` after the dataset changed (clips added, a clip's
features recomputed) must train on the new data, never hand back the old run's
``best.pt``; the old run's files are kept aside. The same data, even moved to another
folder, resumes.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np

from ml.data.dataset import load_clip_record, load_dataset, save_clip_record
from ml.data.latent_pairs import write_latent_paired_dataset
from ml.training.checkpoint import read_checkpoint, save_checkpoint
from ml.training.metrics import MetricsLog
from ml.training.trainer import train


def _n_clips(state: dict) -> dict[str, int]:
    return state["dataset"]["n_clips"]


def _superseded(run: Path) -> list[Path]:
    return sorted(p for p in run.iterdir() if p.is_dir() and p.name.startswith("superseded."))


def test_fingerprint_is_the_content_not_the_folder(tmp_path):
    write_latent_paired_dataset(tmp_path / "a", n_clips=12, seed=5)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    a, b = load_dataset(tmp_path / "a"), load_dataset(tmp_path / "b")
    assert a.fingerprint() == b.fingerprint()
    assert len(a.fingerprint()) == 64 and int(a.fingerprint(), 16) >= 0

    write_latent_paired_dataset(tmp_path / "c", n_clips=13, seed=5)  # one clip more
    assert load_dataset(tmp_path / "c").fingerprint() != a.fingerprint()

    # Same ids, same splits, one value of one training clip changed.
    clip = next(c for c in b.manifest.clips if c.split == "train")
    record, meta = load_clip_record(tmp_path / "b" / clip.file)
    music = record.music_segments.copy()
    music[0, 0] += 1e-3
    changed = type(record)(**{**record.__dict__, "music_segments": music})
    save_clip_record(tmp_path / "b" / clip.file, changed, meta)
    assert load_dataset(tmp_path / "b").fingerprint() != a.fingerprint()


def test_training_again_on_grown_data_starts_a_new_run(tmp_path, tiny_config, caplog):
    data, run = tmp_path / "data", tmp_path / "run"
    write_latent_paired_dataset(data, n_clips=30, seed=3)
    old_best = train(tiny_config("segvmnet", data, run, max_epochs=2))
    old_state = read_checkpoint(old_best)
    assert sum(_n_clips(old_state).values()) == 30

    write_latent_paired_dataset(data, n_clips=60, seed=3)  # the folder grew
    with caplog.at_level(logging.WARNING, logger="ml.training.trainer"):
        best = train(tiny_config("segvmnet", data, run, max_epochs=2))

    dataset = load_dataset(data)
    state = read_checkpoint(best)
    assert sum(_n_clips(state).values()) == 60
    assert state["data_fingerprint"] == dataset.fingerprint()
    assert read_checkpoint(run / "last.pt")["data_fingerprint"] == dataset.fingerprint()
    assert [r["epoch"] for r in MetricsLog(run / "metrics.jsonl").read()] == [0, 1]
    assert "the training data changed (30 -> 60 clips" in caplog.text
    # The old run is kept aside, untouched.
    (aside,) = _superseded(run)
    assert aside.name == f"superseded.{old_state['data_fingerprint'][:12]}"
    assert sum(_n_clips(read_checkpoint(aside / "best.pt")).values()) == 30
    assert len(MetricsLog(aside / "metrics.jsonl").read()) == 2


def test_a_changed_clip_with_the_same_ids_starts_a_new_run(tmp_path, tiny_config):
    data, run = tmp_path / "data", tmp_path / "run"
    write_latent_paired_dataset(data, n_clips=30, seed=3)
    train(tiny_config("segvmnet", data, run, max_epochs=2))
    before = read_checkpoint(run / "last.pt")

    clip = next(c for c in load_dataset(data).manifest.clips if c.split == "val")
    record, meta = load_clip_record(data / clip.file)
    shifted = type(record)(**{**record.__dict__, "video_segments": record.video_segments + 1.0})
    save_clip_record(data / clip.file, shifted, meta)
    train(tiny_config("segvmnet", data, run, max_epochs=2))

    after = read_checkpoint(run / "last.pt")
    assert after["data_fingerprint"] == load_dataset(data).fingerprint()
    assert after["data_fingerprint"] != before["data_fingerprint"]
    assert after["metrics"]["val_loss"] != before["metrics"]["val_loss"]  # trained anew
    assert len(_superseded(run)) == 1


def test_the_same_data_in_another_folder_resumes(tmp_path, tiny_config):
    write_latent_paired_dataset(tmp_path / "data", n_clips=30, seed=3)
    run = tmp_path / "run"
    train(tiny_config("segvmnet", tmp_path / "data", run, max_epochs=2))
    shutil.copytree(tmp_path / "data", tmp_path / "moved")
    first_epochs = MetricsLog(run / "metrics.jsonl").read()
    train(tiny_config("segvmnet", tmp_path / "moved", run, max_epochs=3))
    log = MetricsLog(run / "metrics.jsonl").read()
    assert [r["epoch"] for r in log] == [0, 1, 2]
    assert log[:2] == first_epochs  # epochs 0 and 1 were not trained again
    assert _superseded(run) == []


def test_a_checkpoint_without_a_fingerprint_is_other_data(tmp_path, tiny_config):
    data, run = tmp_path / "data", tmp_path / "run"
    write_latent_paired_dataset(data, n_clips=30, seed=3)
    train(tiny_config("segvmnet", data, run, max_epochs=2))
    for name in ("last.pt", "best.pt"):  # as an older version wrote them
        state = read_checkpoint(run / name)
        state.pop("data_fingerprint", None)
        state.pop("format")
        save_checkpoint(run / name, state)

    train(tiny_config("segvmnet", data, run, max_epochs=2))
    assert read_checkpoint(run / "best.pt")["data_fingerprint"] == load_dataset(data).fingerprint()
    (aside,) = _superseded(run)
    assert aside.name == "superseded.unknown-data"
    assert "data_fingerprint" not in read_checkpoint(aside / "last.pt")
    assert np.isfinite(read_checkpoint(run / "last.pt")["metrics"]["val_loss"])
