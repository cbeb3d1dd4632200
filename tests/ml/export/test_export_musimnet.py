"""MuSimNet's ONNX export: parity with PyTorch, the registry entry, track embeddings."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ml.export import PARITY_TOLERANCE, ExportError, export_checkpoint, load_registry_entry
from ml.export.musimnet import MUSIMNET_FILE, OnnxMuSimNet, export_musimnet
from ml.features.cqt import CQT_VERSION, HOP_LENGTH, N_BINS, SAMPLE_RATE, load_log_cqt, log_cqt
from ml.models.musimnet import MuSimNet, MuSimNetConfig, embed_track, input_statistics
from ml.similarity.mining import MiningConfig
from ml.synth import timbre_sections, write_audio
from ml.training.checkpoint import read_checkpoint, save_checkpoint
from ml.training.musimnet import (
    MuSimNetTrainConfig,
    TaggedTracks,
    load_musimnet,
    train_musimnet,
)

# 3-s patches and narrow layers: a couple of seconds per run on CPU.
TINY = MuSimNetConfig("autopool", filters=(4, 8, 8, 16, 16), embedding_dim=16, patch_frames=128)
INSTRUMENTS = ("piano", "strings", "pluck", "organ", "bell", "saw_synth", "square_lead", "sine_pad")
SYNTH_RATE = 22050  # the synthesiser's rate: log_cqt resamples it, on both sides alike


def song(index: int, seconds: float = 9.0) -> np.ndarray:
    """Two sections in different timbres and tempi (ml.synth), at ``SYNTH_RATE``."""
    first, second = INSTRUMENTS[index % 8], INSTRUMENTS[(3 * index + 1) % 8]
    y, *_ = timbre_sections(
        [seconds / 2, seconds / 2],
        [first, second],
        [80.0 + 9 * index, 120.0 - 5 * index],
        SYNTH_RATE,
        root_midi=50 + 2 * index,
    )
    return y


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> tuple:
    """A tiny MuSimNet trained for one short epoch on eight synthetic songs."""
    cqts = [log_cqt(song(i, seconds=6.0), SYNTH_RATE) for i in range(8)]
    tags = [{INSTRUMENTS[i % 8]: 1.0, "fast" if i % 2 else "slow": 1.0} for i in range(8)]
    out = tmp_path_factory.mktemp("musimnet_run")
    config = MuSimNetTrainConfig(
        train=TaggedTracks(cqts[:5], tags[:5]),
        validation=TaggedTracks(cqts[5:], tags[5:]),
        out_dir=out,
        model=TINY,
        mining=MiningConfig("distance", n_positives=2, n_negatives=2),
        learning_rate=3e-3,
        triplets_per_epoch=16,
        batch_size=8,
        max_epochs=2,
        monitor="val_ndcg",
        validation_triplets=0,
        device="cpu",
        progress=False,
    )
    result = train_musimnet(config)
    return result.path, load_musimnet(result.path)


def test_exported_checkpoint_embeds_audio_as_pytorch_does(checkpoint, tmp_path):
    path, model = checkpoint
    entry = load_registry_entry(export_checkpoint(path, tmp_path / "model"))
    onnx = OnnxMuSimNet.from_entry(entry, device="cpu")
    assert onnx.encoder.providers == ["CPUExecutionProvider"]
    for y in (song(11), song(12, seconds=2.0)):  # the second is shorter than a patch
        expected = embed_track(model, log_cqt(y, SYNTH_RATE))
        got = onnx.embed_signal(y, SYNTH_RATE)
        assert got.shape == expected.shape == (16,) and got.dtype == np.float32
        assert np.abs(got - expected).max() <= PARITY_TOLERANCE
        assert np.linalg.norm(got) <= 1.0 + 1e-5  # a mean of unit vectors, as published
    # A file goes through the same decoding as training's (load_log_cqt).
    audio = write_audio(tmp_path / "song.flac", song(13), SYNTH_RATE)
    expected = embed_track(model, load_log_cqt(audio))
    assert np.abs(onnx.embed_file(audio) - expected).max() <= PARITY_TOLERANCE
    # Different music, different embeddings: the comparison above can fail.
    assert np.abs(onnx.embed_signal(song(11), SYNTH_RATE) - expected).max() > 1e-3


def test_registry_entry_has_what_serving_and_reproduction_need(checkpoint, tmp_path):
    path, model = checkpoint
    entry = load_registry_entry(export_checkpoint(path, tmp_path / "model", name="tiny-sim"))
    data = entry.data
    assert entry.kind == "musimnet" and entry.embedding_dim == 16 and data["name"] == "tiny-sim"
    assert entry.segmentation is None and set(entry.onnx_files()) == {"network"}
    network = data["network"]
    assert network["file"] == MUSIMNET_FILE and len(network["sha256"]) == 64
    assert (network["n_bins"], network["patch_frames"]) == (N_BINS, 128)
    assert network["parity_max_abs_error"] <= PARITY_TOLERANCE
    np.testing.assert_allclose(
        network["normalisation"]["mean"], model.input_mean.numpy(), rtol=1e-6
    )
    assert data["cqt"]["version"] == CQT_VERSION
    assert (data["cqt"]["sample_rate"], data["cqt"]["hop_length"]) == (SAMPLE_RATE, HOP_LENGTH)
    assert data["track_embedding"] | {"patches": None, "pooling": None} == {
        "n_patches": 8,
        "seed": 0,
        "patch_frames": 128,
        "patches": None,
        "pooling": None,
    }
    assert MuSimNetConfig.from_dict(data["model_config"]) == TINY
    training = data["training"]
    assert (
        training["config"]["model"] == TINY.to_dict() and len(training["checkpoint_sha256"]) == 64
    )
    assert (
        training["metrics"]["epoch"] == training["best_epoch"] and "val_ndcg" in training["metrics"]
    )
    assert {"torch", "onnxruntime", "numpy"} <= set(data["versions"])
    json.dumps(data)
    with pytest.raises(ExportError, match="no 'music' branch"):
        entry.encoder("music")


@pytest.mark.parametrize("variant", ["vgg", "autopool"])
def test_both_variants_match_pytorch_for_any_batch(variant, tmp_path):
    torch.manual_seed(1)
    config = (
        MuSimNetConfig("vgg", filters=(4, 8, 8, 16, 16), embedding_dim=12)
        if variant == "vgg"
        else TINY
    )
    model = MuSimNet(config)
    rng = np.random.default_rng(0)
    cqts = [rng.normal(-50, 12, (N_BINS, 700)).astype(np.float32) for _ in range(2)]
    model.set_input_statistics(*input_statistics(cqts))
    with torch.no_grad():  # departs from mean pooling, so auto-pooling is exercised
        for p in model.parameters():
            p.add_(0.2 * torch.randn_like(p))
    encoder = OnnxMuSimNet.from_entry(
        load_registry_entry(export_musimnet(model, tmp_path, name=variant)), "cpu"
    ).encoder
    for batch in (1, 7):
        x = rng.normal(-50, 12, (batch, N_BINS, config.patch_frames)).astype(np.float32)
        with torch.no_grad():
            expected = model.eval()(torch.from_numpy(x)).numpy()
        assert np.abs(encoder.embed(x) - expected).max() <= PARITY_TOLERANCE
    with pytest.raises(ValueError, match="shape"):  # the patch length is fixed
        encoder.embed(np.zeros((2, N_BINS - 1, config.patch_frames), np.float32))


def test_entries_that_cannot_be_served_are_refused(checkpoint, tmp_path):
    path, _ = checkpoint
    manifest = export_checkpoint(path, tmp_path / "model")
    data = json.loads(manifest.read_text())
    data["cqt"]["version"] = "cqt-from-another-release"
    manifest.write_text(json.dumps(data))
    with pytest.raises(ExportError, match="CQT"):
        OnnxMuSimNet.from_entry(load_registry_entry(manifest))
    with open(tmp_path / "model" / MUSIMNET_FILE, "ab") as f:
        f.write(b"\0")
    with pytest.raises(ExportError, match="checksum"):
        load_registry_entry(manifest)
    with pytest.raises(ExportError, match="bins"):
        export_musimnet(
            MuSimNet(
                MuSimNetConfig(
                    "autopool", filters=(4, 4, 4, 4, 4), n_bins=84, pools=((2, 2),) * 4 + ((5, 1),)
                )
            ),
            tmp_path / "other",
            name="wrong-bins",
        )


def test_export_verb_exports_a_musimnet_checkpoint(checkpoint, tmp_path, capsys):
    from cli.main import main

    path, _ = checkpoint
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(path), str(tmp_path / "cli"), "--name", "from-the-shell"])
    assert exit_info.value.code == 0
    entry = load_registry_entry(tmp_path / "cli")
    assert entry.kind == "musimnet" and entry.data["name"] == "from-the-shell"
    assert str(tmp_path / "cli" / "model.json") in capsys.readouterr().out


def test_a_checkpoint_written_before_the_one_loop_still_exports(checkpoint, tmp_path):
    """``musimnet_last.pt`` as the earlier loop wrote it: epochs from 1, the best
    epoch's weights kept as ``best_state`` beside the last epoch's ``model_state``."""
    path, model = checkpoint
    state = read_checkpoint(path)
    history = [
        {
            "epoch": r["epoch"] + 1,
            **{k: v for k, v in r.items() if k.startswith(("train_", "val_"))},
        }
        for r in state["history"]
    ]
    last_weights = {
        k: v + 0.5 if v.is_floating_point() else v for k, v in state["model_state"].items()
    }
    before = save_checkpoint(
        tmp_path / "musimnet_last.pt",
        {
            "kind": "musimnet",
            "model_config": state["model_config"],
            "model_state": last_weights,
            "optimizer_state": state["optimizer_state"],
            "train_config": state["train_config"],
            "epoch": state["epoch"] + 1,
            "best_value": state["best_value"],
            "best_epoch": state["best_epoch"] + 1,
            "best_state": state["model_state"],
            "history": history,
            "data_fingerprint": state["data_fingerprint"],
        },
    )
    entry = load_registry_entry(export_checkpoint(before, tmp_path / "model"))
    training = entry.data["training"]
    assert training["best_epoch"] == state["best_epoch"] + 1
    assert (
        training["metrics"]["epoch"] == training["best_epoch"] and "val_ndcg" in training["metrics"]
    )
    onnx = OnnxMuSimNet.from_entry(entry, device="cpu")
    expected = embed_track(model, log_cqt(song(11), SYNTH_RATE))  # the best epoch's model
    assert np.abs(onnx.embed_signal(song(11), SYNTH_RATE) - expected).max() <= PARITY_TOLERANCE
