"""The ``vggish`` audio extractor: VGGish / AudioSet embeddings at 1 Hz from
weights the deployment provides.

Weights: a PyTorch state_dict in the layout of the ``torchvggish`` port
(``features.0.weight`` ... ``embeddings.4.bias``; see
:mod:`ml.features.pretrained.vggish_net`), at the path in ``V2M_VGGISH_WEIGHTS``.
Optionally ``V2M_VGGISH_PCA`` names the AudioSet post-processing parameters
(a ``torch.save`` of ``{"pca_eigen_vectors": (128, 128), "pca_means": (128,)
or (128, 1)}``, torchvggish's ``vggish_pca_params`` file).

Preprocessing is VGGish's own (``vggish_input`` / ``mel_features``): the signal
is resampled to 16 kHz; 25 ms periodic-Hann frames every 10 ms (no padding),
a 512-point magnitude spectrum, 64 mel bands on the HTK mel scale from 125 to
7500 Hz, and ``log(mel + 0.01)``. Examples are 96 frames (0.96 s), taken every
0.96 s without overlap, as for the AudioSet release.

Post-processing, when PCA parameters are configured: project on the PCA
basis, clip to [-2, 2] and quantise to 8 bits, which gives the values of the
AudioSet release (returned as float32 in [0, 255]). Without them, the raw
128-d embeddings are returned.

The 1 Hz grid (:mod:`ml.features.timegrid`): example ``j`` covers
``[0.96 j, 0.96 (j + 1))`` s; **row t is the mean of the embeddings of the
examples that overlap the second [t, t + 1)** (one to three of them; an
example that merely touches the second's edge does not count). A second that
no example overlaps -- the tail after the last whole example, shorter than
0.96 s -- takes the nearest example. A signal shorter than one example is
padded with silence to 0.96 s, as VGGish's own input code does not (it would
return no example at all).
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import ClassVar

import librosa
import numpy as np

from ml.features.pretrained.weights import (
    PretrainedWeightsError,
    configured_path,
    file_digest,
    load_into,
    load_state_dict,
)
from ml.features.registry import (
    AudioExtractor,
    checked_signal,
    register_extractor,
)
from ml.features.timegrid import n_seconds

__all__ = [
    "EXAMPLE_FRAMES",
    "EXAMPLE_SECONDS",
    "PCA_VARIABLE",
    "SAMPLE_RATE",
    "WEIGHTS_VARIABLE",
    "VGGishAudio",
    "VGGishPCA",
    "example_rows",
    "log_mel_examples",
    "log_mel_spectrogram",
]

WEIGHTS_VARIABLE = "V2M_VGGISH_WEIGHTS"
PCA_VARIABLE = "V2M_VGGISH_PCA"
WEIGHTS_FORMAT = (
    "a PyTorch state_dict of VGGish in the torchvggish layout "
    "(features.0.weight ... embeddings.4.bias), e.g. torchvggish's vggish-10086976.pth"
)
PCA_FORMAT = (
    "a torch.save of {'pca_eigen_vectors': (128, 128), 'pca_means': (128,)}, "
    "e.g. torchvggish's vggish_pca_params-970ea276.pth"
)

SAMPLE_RATE = 16000
WINDOW_SAMPLES = 400  # 25 ms
HOP_SAMPLES = 160  # 10 ms
FFT_SIZE = 512  # next power of two above the window
N_MELS = 64
MEL_MIN_HZ, MEL_MAX_HZ = 125.0, 7500.0
LOG_OFFSET = 0.01
EXAMPLE_FRAMES = 96
EXAMPLE_SECONDS = EXAMPLE_FRAMES * HOP_SAMPLES / SAMPLE_RATE  # 0.96
QUANTIZE_RANGE = (-2.0, 2.0)
#: Examples per forward pass: bounds memory (~100 MB of activations on CPU).
BATCH_EXAMPLES = 64


def log_mel_spectrogram(y: np.ndarray) -> np.ndarray:
    """VGGish's log-mel spectrogram of a 16 kHz signal, ``(n_frames, 64)`` float32.

    ``n_frames = 1 + (len(y) - 400) // 160`` (frames lie wholly inside the signal);
    a signal shorter than one window gives no frame.
    """
    y = np.asarray(y, dtype=np.float64)
    if y.size < WINDOW_SAMPLES:
        return np.zeros((0, N_MELS), dtype=np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(y, WINDOW_SAMPLES)[::HOP_SAMPLES]
    magnitude = np.abs(np.fft.rfft(frames * _periodic_hann(), n=FFT_SIZE))
    mel = magnitude @ _mel_matrix()
    return np.log(mel + LOG_OFFSET).astype(np.float32)


def log_mel_examples(y: np.ndarray) -> np.ndarray:
    """Non-overlapping 0.96 s examples of a 16 kHz signal, ``(n, 96, 64)`` float32.

    A signal shorter than one example is first padded with zeros to 0.96 s,
    so that there is always at least one example.
    """
    min_samples = WINDOW_SAMPLES + (EXAMPLE_FRAMES - 1) * HOP_SAMPLES
    if y.size < min_samples:
        y = np.pad(y, (0, min_samples - y.size))
    log_mel = log_mel_spectrogram(y)
    n_examples = log_mel.shape[0] // EXAMPLE_FRAMES
    return log_mel[: n_examples * EXAMPLE_FRAMES].reshape(n_examples, EXAMPLE_FRAMES, N_MELS)


def example_rows(n_examples: int, n_rows: int) -> np.ndarray:
    """``(n_rows, n_examples)`` float32 averaging weights: row ``t`` averages the
    examples overlapping ``[t, t + 1)`` (nearest example if none; module docstring)."""
    starts = np.arange(n_examples) * EXAMPLE_SECONDS
    ends = starts + EXAMPLE_SECONDS
    seconds = np.arange(n_rows)[:, None]
    # A tolerance keeps an example ending at 2.88 s exactly from "overlapping" second 2.88.. .
    overlaps = (starts[None, :] < seconds + 1 - 1e-9) & (ends[None, :] > seconds + 1e-9)
    empty = ~overlaps.any(axis=1)
    if empty.any():
        centres = (starts + ends) / 2
        nearest = np.abs(centres[None, :] - (seconds[empty] + 0.5)).argmin(axis=1)
        overlaps[np.flatnonzero(empty), nearest] = True
    weights = overlaps.astype(np.float32)
    return weights / weights.sum(axis=1, keepdims=True)


class VGGishPCA:
    """AudioSet post-processing: PCA projection, clipping to [-2, 2], 8-bit quantisation.

    Parameters
    ----------
    eigen_vectors : np.ndarray
        ``(128, 128)``; row ``i`` is the i-th principal direction.
    means : np.ndarray
        ``(128,)`` (a ``(128, 1)`` column is accepted).
    """

    def __init__(self, eigen_vectors: np.ndarray, means: np.ndarray) -> None:
        self.eigen_vectors = np.asarray(eigen_vectors, dtype=np.float32)
        self.means = np.asarray(means, dtype=np.float32).reshape(-1)

    def __call__(self, embeddings: np.ndarray) -> np.ndarray:
        """``(n, 128)`` embeddings -> ``(n, 128)`` float32 quantised values in [0, 255]."""
        projected = (embeddings - self.means) @ self.eigen_vectors.T
        low, high = QUANTIZE_RANGE
        clipped = np.clip(projected, low, high)
        return np.round((clipped - low) * (255.0 / (high - low))).astype(np.float32)

    @classmethod
    def from_file(cls, path: Path) -> VGGishPCA:
        """Read torchvggish's PCA parameter file (see :data:`PCA_FORMAT`).

        Raises
        ------
        PretrainedWeightsError
            The file is unreadable or lacks the two arrays of the right shapes.
        """
        state = load_state_dict(path, PCA_VARIABLE, PCA_FORMAT)
        vectors, means = state.get("pca_eigen_vectors"), state.get("pca_means")
        if (vectors is None or means is None or tuple(vectors.shape) != (128, 128)
                or means.numel() != 128):  # fmt: skip
            found = {k: tuple(v.shape) for k, v in state.items()}
            raise PretrainedWeightsError(
                f"{PCA_VARIABLE}={path} holds {found}; expected {PCA_FORMAT}",
                reason="wrong_format", variable=PCA_VARIABLE, path=str(path),
            )  # fmt: skip
        return cls(vectors.double().numpy(), means.double().numpy())


@register_extractor
class VGGishAudio(AudioExtractor):
    """VGGish embeddings (128-d), one row per second, from configured weights.

    The version is ``"1-<weights digest>"`` (``"1-<weights>-pca-<pca>"`` with
    post-processing): features from different weight files are not comparable,
    so a model records which file it was trained with.

    Raises
    ------
    PretrainedWeightsError
        On construction (so from ``get_extractor("vggish", "audio")``), when
        ``V2M_VGGISH_WEIGHTS`` is unset, names no file, or names a file that is
        not a VGGish state_dict; likewise for a configured ``V2M_VGGISH_PCA``.
    """

    name: ClassVar[str] = "vggish"
    version = "1"
    dim = 128
    sample_rate = SAMPLE_RATE

    def __init__(self) -> None:
        import torch

        from ml.features.pretrained.vggish_net import VGGishNet

        weights_path = configured_path(WEIGHTS_VARIABLE, WEIGHTS_FORMAT)
        state = load_state_dict(weights_path, WEIGHTS_VARIABLE, WEIGHTS_FORMAT)
        with torch.device("meta"):  # no random initialisation: the file provides every value
            network = VGGishNet()
        self.network = load_into(network, state, WEIGHTS_VARIABLE, weights_path, WEIGHTS_FORMAT)
        self.version = f"1-{file_digest(weights_path)}"
        pca_path = configured_path(PCA_VARIABLE, PCA_FORMAT, required=False)
        self.pca = VGGishPCA.from_file(pca_path) if pca_path is not None else None
        if pca_path is not None:
            self.version += f"-pca-{file_digest(pca_path)}"
        self._lock = threading.Lock()

    def embed_examples(self, examples: np.ndarray) -> np.ndarray:
        """``(n, 96, 64)`` log-mel examples -> ``(n, 128)`` float32 (post-processed
        when PCA parameters are configured)."""
        import torch

        outputs = []
        with self._lock, torch.inference_mode():
            for start in range(0, examples.shape[0], BATCH_EXAMPLES):
                batch = torch.from_numpy(
                    np.ascontiguousarray(examples[start : start + BATCH_EXAMPLES])
                )
                outputs.append(self.network(batch[:, None]).numpy())
        embeddings = np.concatenate(outputs).astype(np.float32, copy=False)
        return self.pca(embeddings) if self.pca is not None else embeddings

    def extract(self, y: np.ndarray, sr: int) -> np.ndarray:
        """Features of a mono signal, ``(ceil(len(y) / sr), 128)`` float32.

        Raises
        ------
        FeatureInputError
            ``y`` is not a non-empty, finite, one-dimensional floating-point
            signal, or ``sr`` is not a positive integer.
        """
        y = checked_signal(y, sr)
        n_rows = n_seconds(y.size / sr)
        if sr != SAMPLE_RATE:
            y = librosa.resample(y, orig_sr=sr, target_sr=SAMPLE_RATE)
        examples = log_mel_examples(y)
        return example_rows(examples.shape[0], n_rows) @ self.embed_examples(examples)


@functools.cache
def _periodic_hann() -> np.ndarray:
    # VGGish uses the periodic Hann window (as for spectral analysis), not the symmetric one.
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WINDOW_SAMPLES) / WINDOW_SAMPLES)


def _hz_to_htk_mel(hz: np.ndarray) -> np.ndarray:
    return 1127.0 * np.log1p(np.asarray(hz, dtype=np.float64) / 700.0)


@functools.cache
def _mel_matrix() -> np.ndarray:
    """``(257, 64)`` triangular weights, as ``mel_features.spectrogram_to_mel_matrix``:
    triangles in the mel domain, no area normalisation, the DC bin ignored."""
    spectrum_mels = _hz_to_htk_mel(np.linspace(0.0, SAMPLE_RATE / 2, FFT_SIZE // 2 + 1))
    edges = np.linspace(_hz_to_htk_mel(MEL_MIN_HZ), _hz_to_htk_mel(MEL_MAX_HZ), N_MELS + 2)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (spectrum_mels[:, None] - lower) / (centre - lower)
    falling = (upper - spectrum_mels[:, None]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights[0, :] = 0.0
    return weights
