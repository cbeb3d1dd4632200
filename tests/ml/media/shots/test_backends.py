"""The shot detector's backends: PyTorch and ONNX Runtime compute the same shots."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from onnx import TensorProto, helper

from bench.bench_shots import near
from ml.media.shot_backends import (
    OnnxShotNetwork,
    ShotModelError,
    resolve_backend,
)
from ml.media.shots import ShotDetector

#: The edited video's first 350 frames: a cut at 131, dissolves over 181-196 and
#: 250-263, a cut at 330 (``write_edited_video`` with the conftest's seed).
PREFIX = 350


@pytest.fixture(scope="module")
def both(edited_frames):
    """The full pass with features on the prefix, by PyTorch and by ONNX Runtime."""
    frames = edited_frames[:PREFIX]
    return tuple(
        ShotDetector(device="cpu", mode="full", backend=name).detect(frames, return_features=True)
        for name in ("torch", "onnx")
    )


def test_default_cpu_backend_is_onnx_runtime():
    assert ShotDetector(device="cpu").backend.name == "onnx"
    assert resolve_backend("auto", torch.device("cpu")) == "onnx"
    assert resolve_backend("auto", torch.device("cuda")) == "torch"


def test_backends_agree_on_hard_cuts_and_a_dissolve(edited_video, both):
    pytorch, onnx_runtime = both
    kinds = dict(zip(edited_video.first.tolist(), edited_video.kinds))
    inside = [f for f in edited_video.first if f < PREFIX]
    assert {kinds[f] for f in inside} == {"cut", "dissolve"}
    np.testing.assert_allclose(onnx_runtime.probabilities, pytorch.probabilities, atol=1e-4)
    np.testing.assert_array_equal(onnx_runtime.boundaries, pytorch.boundaries)
    cuts = [f for f in inside if kinds[f] == "cut"]
    assert len(near(onnx_runtime.boundaries, np.array(cuts))) == len(cuts)
    np.testing.assert_allclose(onnx_runtime.embeddings, pytorch.embeddings, atol=1e-3)
    np.testing.assert_allclose(
        onnx_runtime.similarity_embeddings, pytorch.similarity_embeddings, atol=1e-4
    )


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no TransNetV2 ONNX model"):
        OnnxShotNetwork(tmp_path / "absent.onnx")


def test_unreadable_model_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"\x08\x07not a model")
    with pytest.raises(ShotModelError, match="not a readable ONNX model"):
        OnnxShotNetwork(path)


def test_another_model_is_a_clear_error():
    graph = helper.make_graph(
        [helper.make_node("Identity", ["windows"], ["logits"])],
        "other",
        [helper.make_tensor_value_info("windows", TensorProto.FLOAT, ["batch", 10])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    with pytest.raises(ShotModelError, match="not a TransNetV2 export"):
        OnnxShotNetwork(model.SerializeToString())


@pytest.mark.parametrize(("backend", "device"), [("tensorflow", "cpu"), ("onnx", "cuda")])
def test_bad_backend_is_refused(backend, device):
    with pytest.raises(ValueError):
        resolve_backend(backend, torch.device(device))
