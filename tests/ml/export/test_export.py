"""ONNX export: parity with PyTorch, the registry entry, checksums."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from ml.data.dataset import load_dataset
from ml.export import (
    PARITY_TOLERANCE,
    ExportError,
    OnnxEncoder,
    export_checkpoint,
    export_model,
    load_registry_entry,
    select_providers,
    write_sync_bank,
)
from ml.models.vmnet import TwoBranchNet, vmnet_config
from ml.sync.prior import SyncBank
from ml.training.checkpoint import load_model


def test_exported_checkpoint_matches_pytorch(trained_segvmnet, latent_dataset, tmp_path):
    manifest = export_checkpoint(trained_segvmnet, tmp_path / "model")
    entry = load_registry_entry(manifest)
    model = load_model(trained_segvmnet)
    pairs = load_dataset(latent_dataset).segment_pairs("test")
    for modality, inputs, branch in (
        ("music", pairs.music, model.music),
        ("video", pairs.video, model.video),
    ):
        onnx_out = entry.encoder(modality, device="cpu").embed(inputs)
        with torch.no_grad():
            torch_out = branch(torch.from_numpy(inputs)).numpy()
        assert onnx_out.shape == torch_out.shape == (len(inputs), 16)
        assert np.abs(onnx_out - torch_out).max() <= PARITY_TOLERANCE
        np.testing.assert_allclose(np.linalg.norm(onnx_out, axis=1), 1.0, atol=1e-5)
        # A batch of one works too (batch norm is frozen in the graph).
        single = entry.encoder(modality, device="cpu").embed(inputs[:1])
        assert np.abs(single - torch_out[:1]).max() <= PARITY_TOLERANCE


def test_registry_entry_has_what_serving_and_reproduction_need(trained_segvmnet, tmp_path):
    entry = load_registry_entry(export_checkpoint(trained_segvmnet, tmp_path / "model"))
    data = entry.data
    assert entry.kind == "segvmnet" and entry.embedding_dim == 16
    assert entry.segmentation == "synthetic"
    assert data["extractors"]["audio"] == {
        "name": "latent-music",
        "version": "1",
        "modality": "audio",
        "dim": 24,
    }
    assert data["extractors"]["video"]["dim"] == 16
    for modality, dim in (("music", 24), ("video", 16)):
        branch = data["branches"][modality]
        assert branch["input_dim"] == dim and branch["input_layout"] == "batch,dim"
        assert len(branch["normalisation"]["mean"]) == dim == len(branch["normalisation"]["std"])
        assert len(branch["sha256"]) == 64
        assert branch["parity_max_abs_error"] <= PARITY_TOLERANCE
    assert data["training"]["config"]["kind"] == "segvmnet"
    assert len(data["training"]["checkpoint_sha256"]) == 64
    assert {"torch", "onnxruntime"} <= set(data["versions"])
    json.dumps(data)  # plain JSON all the way down


def test_tampered_onnx_file_fails_verification(trained_segvmnet, tmp_path):
    manifest = export_checkpoint(trained_segvmnet, tmp_path / "model")
    with open(tmp_path / "model" / "video.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(ExportError, match="checksum"):
        load_registry_entry(manifest)
    (tmp_path / "model" / "music.onnx").unlink()
    with pytest.raises(ExportError, match="missing"):
        load_registry_entry(manifest)
    with pytest.raises(ExportError):
        load_registry_entry(tmp_path / "nowhere")


@pytest.mark.parametrize("pooling", ["attention", "auto"])
def test_pooled_branches_export_with_dynamic_time(tmp_path, pooling):
    torch.manual_seed(0)
    model = TwoBranchNet(
        vmnet_config(
            12, 10, embedding_dim=8, music_hidden=(32, 16), video_hidden=(32,), pooling=pooling
        )
    )
    rng = np.random.default_rng(0)
    model.fit_normalization(rng.normal(2, 3, size=(500, 12)), rng.normal(-1, 2, size=(500, 10)))
    with torch.no_grad():  # make the pooling layers non-trivial
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    model.eval()
    entry = load_registry_entry(export_model(model, tmp_path, name="pooled"))
    assert entry.data["branches"]["music"]["input_layout"] == "batch,time,dim"
    for time_steps in (1, 37, 100):
        x = rng.normal(2, 3, size=(5, time_steps, 12)).astype(np.float32)
        with torch.no_grad():
            expected = model.embed_music(torch.from_numpy(x)).numpy()
        assert np.abs(entry.encoder("music", "cpu").embed(x) - expected).max() <= PARITY_TOLERANCE


def test_encoder_input_checks_and_providers(trained_segvmnet, tmp_path):
    entry = load_registry_entry(export_checkpoint(trained_segvmnet, tmp_path / "model"))
    encoder = entry.encoder("music", device="cpu")
    assert encoder.providers == ["CPUExecutionProvider"]
    with pytest.raises(ValueError, match="last dim 24"):
        encoder.embed(np.zeros((3, 23), dtype=np.float32))
    assert encoder.embed(np.zeros((0, 24))).shape == (0, 16)
    with pytest.raises(ExportError):
        OnnxEncoder(tmp_path / "absent.onnx")
    assert select_providers("cpu") == ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" in ort.get_available_providers():
        assert select_providers("auto")[0] == "CUDAExecutionProvider"
    else:
        assert select_providers("auto") == ["CPUExecutionProvider"]
        with pytest.raises(ExportError, match="CUDA"):
            select_providers("cuda")


def test_the_export_carries_the_training_videos_as_a_query_bank(
    trained_segvmnet, latent_dataset, tmp_path
):
    manifest = export_checkpoint(trained_segvmnet, tmp_path / "model")
    entry = load_registry_entry(manifest)
    dataset = load_dataset(latent_dataset)
    records = dataset.records("train") + dataset.records("val")
    bank = entry.query_bank()
    assert entry.data["bank"]["queries"] == len(bank) == min(len(records), 256)
    assert [len(q) for q in bank] == [len(r.video_segments) for r in records][: len(bank)]
    # The bank is the video branch's embedding of those clips, as served.
    video = entry.encoder("video", device="cpu")
    assert np.abs(bank[0] - video.embed(records[0].video_segments)).max() <= PARITY_TOLERANCE
    with open(tmp_path / "model" / "bank.npz", "ab") as f:
        f.write(b"\0")
    with pytest.raises(ExportError, match="query bank"):
        load_registry_entry(manifest)


def test_a_bank_of_music_videos_is_named_verified_and_gives_the_reference_queries(
    trained_segvmnet, tmp_path
):
    manifest = export_checkpoint(trained_segvmnet, tmp_path / "model")
    assert load_registry_entry(manifest).sync_bank() is None
    bank = SyncBank(
        ("a", "b"),
        (np.array([1.0, 2.5]), np.array([4.0])),
        np.array([10.0, 12.0]),
        tuple(np.random.default_rng(n).normal(size=(n, 16)) for n in (10, 12)),  # video's input
    )
    exported = load_registry_entry(manifest).query_bank()
    write_sync_bank(tmp_path / "model", bank, "two clips")
    entry = load_registry_entry(manifest)
    # The reference queries are now its videos, cut as queries are, by the video branch.
    video = entry.encoder("video", device="cpu")
    queries = entry.query_bank()
    assert len(queries) == 2 and len(exported) > 2
    for query, vectors in zip(queries, bank.segment_vectors(), strict=True):
        np.testing.assert_allclose(query, video.embed(vectors.astype(np.float32)), atol=1e-6)
    assert entry.data["sync_bank"]["videos"] == 2
    assert entry.data["sync_bank"]["source"] == "two clips"
    back = entry.sync_bank()
    assert back.clip_ids == ("a", "b")
    np.testing.assert_array_equal(back.cuts_s[0], [1.0, 2.5])
    np.testing.assert_array_equal(back.frames[1], bank.frames[1])
    with open(tmp_path / "model" / "sync_bank.npz", "ab") as f:
        f.write(b"\0")
    with pytest.raises(ExportError, match="bank of music videos"):
        load_registry_entry(manifest)
