"""The `v2m train | evaluate | export` verbs, run for real on a tiny synthetic corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.main import main
from cli.ml_verbs import CliInputError, read_tags_csv
from ml.export import load_registry_entry
from ml.training.checkpoint import read_checkpoint
from ml.training.config import TrainConfig

TINY_ARGS = [
    "--epochs", "3", "--dim", "16", "--music-hidden", "32", "--video-hidden", "32",
    "--batch-size", "16", "--split", "0.5,0.2,0.3", "--device", "cpu", "--quiet",
]  # fmt: skip


def run_v2m(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return exit_info.value.code


@pytest.fixture(scope="module")
def trained_runs(tiny_videos: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A Seg-VM-Net (OLDA segments, the default recipe, exported) and a mean-pooled
    VM-Net (the triplet loop) on the same videos."""
    root = tmp_path_factory.mktemp("cli_runs")
    seg = ["train", "segvmnet", "--videos", str(tiny_videos), "--work", str(root / "seg"),
           "--segmentation", "olda", "--export", str(root / "seg_model"), "--learning-rate", "3e-3",
           *TINY_ARGS]  # fmt: skip
    assert run_v2m(seg) == 0
    clip = ["train", "vmnet", "--pooling", "mean", "--dataset", str(root / "seg" / "dataset"),
            "--work", str(root / "clip"), *TINY_ARGS]  # fmt: skip
    assert run_v2m(clip) == 0
    return {"root": root, "seg": root / "seg", "clip": root / "clip"}


@pytest.mark.slow
def test_train_builds_the_dataset_trains_and_exports(trained_runs):
    seg = trained_runs["seg"]
    assert not (trained_runs["clip"] / "dataset").exists()  # trained on the seg dataset
    manifest = json.loads((seg / "dataset" / "manifest.json").read_text())
    assert manifest["segmentation"] == "olda"
    assert len(manifest["clips"]) == 9
    assert [s["reason"] for s in manifest["skipped"]] == ["not_media"]
    # Six training clips: the default recipe fits CCA, in one step.
    log = [json.loads(line) for line in (seg / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [record["recipe"] for record in log] == ["cca"]
    state = read_checkpoint(seg / "run" / "best.pt")
    assert state["train_config"]["recipe"] == "cca"
    entry = load_registry_entry(trained_runs["root"] / "seg_model")
    assert entry.kind == "segvmnet" and entry.segmentation == "olda"
    assert entry.embedding_dim == min(
        manifest["audio_extractor"]["dim"], manifest["video_extractor"]["dim"]
    )
    clip_log = (trained_runs["clip"] / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(clip_log) == 3  # --epochs 3 of the triplet loop


@pytest.mark.slow
def test_options_left_out_keep_the_training_recipe(trained_runs):
    def recorded(run: str) -> dict:
        return read_checkpoint(trained_runs[run] / "run" / "best.pt")["train_config"]

    defaults = TrainConfig("segvmnet", Path(), Path())
    assert recorded("seg")["learning_rate"] == 3e-3  # given
    assert recorded("clip")["learning_rate"] == defaults.learning_rate  # left out
    assert recorded("clip")["monitor"] == defaults.monitor == "val_mean_rank"


@pytest.mark.slow
def test_training_again_resumes_instead_of_starting_over(trained_runs):
    clip = trained_runs["clip"]
    before = (clip / "run" / "metrics.jsonl").read_text()
    argv = ["train", "vmnet", "--pooling", "mean", "--dataset", str(trained_runs["seg"] / "dataset"),
            "--work", str(clip), *TINY_ARGS]  # fmt: skip
    assert run_v2m(argv) == 0
    assert (clip / "run" / "metrics.jsonl").read_text() == before  # 3 of 3 epochs were done


@pytest.mark.slow
def test_evaluate_writes_and_prints_the_tables(trained_runs, tmp_path, capsys):
    argv = ["evaluate", "--dataset", str(trained_runs["seg"] / "dataset"),
            "--checkpoint", str(trained_runs["seg"] / "run" / "best.pt"),
            "--baseline", f"VM-Net={trained_runs['clip'] / 'run' / 'best.pt'}",
            "--out", str(tmp_path)]  # fmt: skip
    assert run_v2m(argv) == 0
    printed = capsys.readouterr().out
    assert "| cost | vanilla | crop query | stretch targets | crop+stretch |" in printed
    assert "VM-Net (clip level)" in printed
    report = json.loads((tmp_path / "evaluation.json").read_text())
    assert report["n_clips"] == 3  # 30% of nine clips
    assert set(report["segment_level"]["vanilla"]) == {
        "centroid", "single", "complete", "trace", "best_trace", "nw_dtw", "sw_dtw",
        "trace_mean", "best_trace_mean",
    }  # fmt: skip
    assert (tmp_path / "evaluation.md").read_text().startswith("Mean rank")


@pytest.mark.slow
def test_export_verb_writes_a_verified_registry_entry(trained_runs, tmp_path, capsys):
    argv = ["export", str(trained_runs["clip"] / "run" / "best.pt"), str(tmp_path / "m"),
            "--name", "clip-baseline"]  # fmt: skip
    assert run_v2m(argv) == 0
    entry = load_registry_entry(tmp_path / "m")
    assert entry.kind == "vmnet" and entry.data["name"] == "clip-baseline"
    assert str(tmp_path / "m") in capsys.readouterr().out


def test_bad_input_exits_2_with_a_message(tmp_path, capsys):
    argv = ["evaluate", "--dataset", str(tmp_path), "--checkpoint", str(tmp_path / "none.pt")]
    assert run_v2m(argv) == 2
    assert "v2m evaluate:" in capsys.readouterr().err
    assert run_v2m(["train", "segvmnet", "--work", str(tmp_path)]) == 2
    assert "--videos" in capsys.readouterr().err
    both = ["train", "vmnet", "--work", str(tmp_path), "--videos", str(tmp_path),
            "--dataset", str(tmp_path)]  # fmt: skip
    assert run_v2m(both) == 2
    assert run_v2m(["train", "vmnet", "--work", str(tmp_path), "--dataset", str(tmp_path)]) == 2
    assert "manifest" in capsys.readouterr().err
    assert run_v2m(["export", str(tmp_path / "none.pt"), str(tmp_path / "out")]) == 2
    assert (
        run_v2m(["train", "vmnet", "--work", str(tmp_path), "--split", "0.5,0.5"]) == 2
    )  # argparse


def test_read_tags_csv(tmp_path):
    path = tmp_path / "tags.csv"
    path.write_text("file,tags\na.flac,rock;calm:0.5\nsub/b.wav,\n")
    assert read_tags_csv(path) == {"a.flac": {"rock": 1.0, "calm": 0.5}, "sub/b.wav": {}}
    path.write_text("file,tags\na.flac,rock:loud\n")
    with pytest.raises(CliInputError, match="strength"):
        read_tags_csv(path)
    path.write_text("file,tags\na.flac,rock\na.flac,pop\n")
    with pytest.raises(CliInputError, match="twice"):
        read_tags_csv(path)
    path.write_text("name,labels\na.flac,rock\n")
    with pytest.raises(CliInputError, match="columns"):
        read_tags_csv(path)
    with pytest.raises(CliInputError, match="cannot read"):
        read_tags_csv(tmp_path / "missing.csv")


def test_musimnet_inputs_are_checked_before_any_work(tmp_path, capsys):
    tracks = tmp_path / "tracks"
    tracks.mkdir()
    for name in ("a.wav", "b.wav", "c.flac"):
        (tracks / name).write_bytes(b"")
    tags = tmp_path / "tags.csv"
    tags.write_text("file,tags\na.wav,rock\nb.wav,pop\nc.flac,rock;pop\n")
    base = ["train", "musimnet", "--work", str(tmp_path / "w")]
    assert run_v2m([*base, "--tracks", str(tracks)]) == 2
    assert "--tags" in capsys.readouterr().err
    assert run_v2m([*base, "--tracks", str(tmp_path / "none"), "--tags", str(tags)]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert run_v2m([*base, "--tracks", str(tracks), "--tags", str(tags)]) == 2
    assert "3 tracks" in capsys.readouterr().err
