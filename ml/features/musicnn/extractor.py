"""The ``musicnn`` audio extractor: MusiCNN penultimate features at 1 Hz.

Weights come from the ``musicnn`` wheel (installed without its TensorFlow
dependencies; nothing is downloaded): its TF1 checkpoint is read by
:mod:`ml.features.musicnn.checkpoint`, loaded into the PyTorch port of
:mod:`ml.features.musicnn.model`, exported once to ONNX in a cache directory,
and served by ONNX Runtime (CUDA when available, else CPU; plain PyTorch when
ONNX Runtime is missing).

Preprocessing replicates ``musicnn.extractor.batch_data``: a 96-band mel power
spectrogram at 16 kHz (512-sample FFT, hop 256, centred frames with reflect
padding -- librosa 0.7's defaults, which the models were trained with),
quantised to float16 as the training data were stored, then ``log10(10000 x + 1)``.

The 1 Hz grid (:mod:`ml.features.timegrid`): row ``t`` is the 200-d penultimate
layer of the **3 s patch (187 frames, the length the models were trained on)
centred on the middle of second t**, ``t + 0.5`` s. Overlapping patches give
every second a full-length input with 1 s of context on each side, rather than
the original tool's non-overlapping 3 s steps (which would give one vector per
3 s). Edge rule: a patch that would reach before the start or past the end of
the signal is shifted to lie inside it (so the first and last rows describe
the first and last 3 s), and a signal shorter than 3 s is repeated to fill one
patch, as the models' training ("repeat-pad") did for short clips.

Tags (:meth:`MusicnnAudio.extract_tagged`): the MSD model's taggram of the same patches,
and the MTT model's, whose vocabulary names instruments the MSD one lacks (strings,
piano, violin, cello, flute, drums...). The MTT model runs on every third patch, the
non-overlapping 3 s steps of the original tool: its taggram only feeds the track's
mean, and a third of the patches cost a third of the time (about 2 s per 3-minute
track on a CPU core). Both vocabularies form one list, the MSD tags first
(:data:`TAG_NAMES`; a tag both name keeps the MSD confidence).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
import threading
import warnings
from pathlib import Path
from typing import ClassVar

import librosa
import numpy as np

from ml.features.registry import (
    AudioExtractor,
    checked_signal,
    register_extractor,
)
from ml.features.tags import TrackTags, merge_tags, normalize_tag, track_tags
from ml.features.timegrid import n_seconds

__all__ = [
    "FFT_HOP",
    "FFT_SIZE",
    "MODEL_NAMES",
    "MSD_TAGS",
    "MTT_TAGS",
    "PATCH_FRAMES",
    "SAMPLE_RATE",
    "TAG_NAMES",
    "TAGS_VERSION",
    "MusicnnAudio",
    "MusicnnModel",
    "MusicnnWeightsNotFoundError",
    "log_mel_spectrogram",
    "musicnn_checkpoint_prefix",
    "patch_starts",
    "patches_per_second",
]

SAMPLE_RATE = 16000
FFT_SIZE = 512
FFT_HOP = 256
N_MELS = 96
#: Frames in a 3 s patch: ``librosa.time_to_frames(3, sr, n_fft, hop) + 1``, as the original.
PATCH_FRAMES = 187
#: Patches per inference batch: bounds memory (~70 MB of activations) on long tracks.
BATCH_PATCHES = 32
MODEL_NAMES = ("MSD_musicnn", "MTT_musicnn")
#: Environment variable overriding where the exported ONNX files are cached.
CACHE_DIR_ENV = "V2M_MUSICNN_CACHE_DIR"

# Tag vocabularies of the two models, from musicnn/configuration.py.
MSD_TAGS = ('rock', 'pop', 'alternative', 'indie', 'electronic', 'female vocalists', 'dance',
            '00s', 'alternative rock', 'jazz', 'beautiful', 'metal', 'chillout', 'male vocalists',
            'classic rock', 'soul', 'indie rock', 'Mellow', 'electronica', '80s', 'folk', '90s',
            'chill', 'instrumental', 'punk', 'oldies', 'blues', 'hard rock', 'ambient', 'acoustic',
            'experimental', 'female vocalist', 'guitar', 'Hip-Hop', '70s', 'party', 'country',
            'easy listening', 'sexy', 'catchy', 'funk', 'electro', 'heavy metal',
            'Progressive rock', '60s', 'rnb', 'indie pop', 'sad', 'House', 'happy')  # fmt: skip
MTT_TAGS = ('guitar', 'classical', 'slow', 'techno', 'strings', 'drums', 'electronic', 'rock',
            'fast', 'piano', 'ambient', 'beat', 'violin', 'vocal', 'synth', 'female', 'indian',
            'opera', 'male', 'singing', 'vocals', 'no vocals', 'harpsichord', 'loud', 'quiet',
            'flute', 'woman', 'male vocal', 'no vocal', 'pop', 'soft', 'sitar', 'solo', 'man',
            'classic', 'choir', 'voice', 'new age', 'dance', 'male voice', 'female vocal', 'beats',
            'harp', 'cello', 'no voice', 'weird', 'country', 'metal', 'female voice', 'choral')  # fmt: skip
_TAGS = {"MSD_musicnn": MSD_TAGS, "MTT_musicnn": MTT_TAGS}
#: The automatic tags' vocabulary: the MSD tags, then the MTT tags the MSD lacks.
TAG_NAMES = MSD_TAGS + tuple(
    t for t in MTT_TAGS if normalize_tag(t) not in {normalize_tag(m) for m in MSD_TAGS}
)
#: Revision of what :meth:`MusicnnAudio.extract_tagged` tags with (in its tags' source).
TAGS_VERSION = "msd+mtt-1"
#: Every how many 1 Hz patches the MTT model tags one (3: non-overlapping 3 s steps).
MTT_STEP = 3


class MusicnnWeightsNotFoundError(FileNotFoundError):
    """The ``musicnn`` package, or its checkpoint for the requested model, is
    not installed. Install the wheel without its (TensorFlow, old NumPy)
    dependencies: ``pip install --no-deps musicnn==0.1.0``."""


def musicnn_checkpoint_prefix(
    model: str = "MSD_musicnn", weights_dir: str | os.PathLike | None = None
) -> str:
    """The checkpoint prefix of ``model``: the wheel stores ``<model>/.index``, so
    the prefix is the folder path with a trailing separator (a string, since
    :class:`~pathlib.Path` would drop the separator).

    ``weights_dir`` is a folder holding ``<model>/`` checkpoint folders; by
    default the installed ``musicnn`` package, found without importing it (its
    modules import TensorFlow).

    Raises
    ------
    ValueError
        ``model`` is not one of :data:`MODEL_NAMES`.
    MusicnnWeightsNotFoundError
        The package or the checkpoint files are missing.
    """
    if model not in MODEL_NAMES:
        raise ValueError(f"unknown MusiCNN model {model!r}; choose from {MODEL_NAMES}")
    if weights_dir is None:
        spec = importlib.util.find_spec("musicnn")
        if spec is None or not spec.submodule_search_locations:
            raise MusicnnWeightsNotFoundError(
                "the 'musicnn' package is not installed; install its weights with "
                "'pip install --no-deps musicnn==0.1.0'"
            )
        weights_dir = next(iter(spec.submodule_search_locations))
    prefix = Path(weights_dir) / model
    for suffix in (".index", ".data-00000-of-00001"):
        if not (prefix / suffix).is_file():
            raise MusicnnWeightsNotFoundError(
                f"MusiCNN checkpoint file {prefix / suffix} is missing; reinstall the weights "
                "with 'pip install --no-deps --force-reinstall musicnn==0.1.0'"
            )
    return str(prefix) + os.sep


def log_mel_spectrogram(y: np.ndarray) -> np.ndarray:
    """MusiCNN's input representation of a 16 kHz signal: ``(n_frames, 96)`` float32.

    As ``musicnn.extractor.batch_data``: mel power spectrogram, cast to float16,
    ``log10(10000 x + 1)`` evaluated in float16. The original's float16 product
    overflows to infinity for loud bins (mel power above 6.55), which makes the
    whole patch NaN; there we evaluate the same expression in float32 and round
    to float16, the finite value the formula means. Elsewhere values are
    bit-identical to the original.
    """
    mel = librosa.feature.melspectrogram(
        y=y, sr=SAMPLE_RATE, n_fft=FFT_SIZE, hop_length=FFT_HOP, n_mels=N_MELS,
        center=True, pad_mode="reflect",
    ).T  # fmt: skip
    mel16 = mel.astype(np.float16)
    with np.errstate(over="ignore"):
        log_mel = np.log10(10000 * mel16 + 1)
    overflow = ~np.isfinite(log_mel)
    if overflow.any():
        exact = np.log10(10000 * mel16[overflow].astype(np.float32) + 1)
        log_mel[overflow] = exact.astype(np.float16)
    return log_mel.astype(np.float32)


def patch_starts(n_frames: int, n_rows: int) -> np.ndarray:
    """First spectrogram frame of the patch for each 1 Hz row.

    The patch of row ``t`` is centred on ``t + 0.5`` s and shifted to lie inside
    ``[0, n_frames)`` (see the module docstring); ``n_frames`` must be at least
    :data:`PATCH_FRAMES`.
    """
    frames_per_second = SAMPLE_RATE / FFT_HOP
    centres = np.round((np.arange(n_rows) + 0.5) * frames_per_second).astype(np.int64)
    return np.clip(centres - PATCH_FRAMES // 2, 0, n_frames - PATCH_FRAMES)


def _default_cache_dir() -> Path:
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "v2m" / "musicnn"


class MusicnnModel:
    """A MusiCNN model from the wheel's checkpoint, ready for inference.

    Parameters
    ----------
    model : str
        ``"MSD_musicnn"`` (Million Song Dataset tags, the default) or ``"MTT_musicnn"``.
    weights_dir : path, optional
        Folder holding ``<model>/`` checkpoints; the installed ``musicnn`` package by default.
    backend : str
        ``"onnx"`` (ONNX Runtime; the export is cached), ``"torch"``, or
        ``"auto"`` (ONNX Runtime when importable).
    cache_dir : path, optional
        Where the ONNX export is kept; by default ``$V2M_MUSICNN_CACHE_DIR``, else
        ``~/.cache/v2m/musicnn`` (a temporary folder if that is not writable).
    device : str
        ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.

    Raises
    ------
    MusicnnWeightsNotFoundError
        The ``musicnn`` package or the model's checkpoint is missing.
    """

    def __init__(
        self,
        model: str = "MSD_musicnn",
        *,
        weights_dir: str | os.PathLike | None = None,
        backend: str = "auto",
        cache_dir: str | os.PathLike | None = None,
        device: str = "auto",
    ) -> None:
        if backend not in ("auto", "onnx", "torch"):
            raise ValueError(f"backend must be 'auto', 'onnx' or 'torch', got {backend!r}")
        if device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
        self.model = model
        self.prefix = musicnn_checkpoint_prefix(model, weights_dir)  # validates the name
        self.tags: tuple[str, ...] = _TAGS[model]
        if backend == "auto":
            backend = "onnx" if importlib.util.find_spec("onnxruntime") else "torch"
        self.backend = backend
        self.device = device
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._torch_model = None
        self._session = None
        self._lock = threading.Lock()
        self.weights_digest = _digest(self.prefix)

    def torch_module(self):
        """The PyTorch port with the checkpoint's weights (eval mode), built once."""
        if self._torch_model is None:
            from ml.features.musicnn.checkpoint import read_checkpoint
            from ml.features.musicnn.model import MusiCNN, load_tf_weights

            weights = read_checkpoint(self.prefix)
            n_tags = weights["dense_1/bias"].shape[0]
            self._torch_model = load_tf_weights(MusiCNN(n_tags=n_tags), weights)
        return self._torch_model

    def onnx_path(self) -> Path:
        """The ONNX export of this model, written on first use.

        The file name carries a digest of the checkpoint and the port's
        revision, so a changed wheel or graph gets a new export; the file is written under a temporary name and renamed, so
        concurrent workers never read a half-written model.
        """
        candidates = [self._cache_dir] if self._cache_dir else [_default_cache_dir()]
        candidates.append(Path(tempfile.gettempdir()) / "v2m-musicnn")
        from ml.features.musicnn.model import PORT_REVISION

        name = f"{self.model}-{self.weights_digest}-r{PORT_REVISION}.onnx"
        for folder in candidates:
            path = folder / name
            if path.is_file():
                return path
            try:
                folder.mkdir(parents=True, exist_ok=True)
                export_onnx(self.torch_module(), path)
                return path
            except OSError:
                continue  # not writable: try the next place
        raise OSError(f"cannot write the MusiCNN ONNX export to any of {candidates}")

    def _onnx_session(self):
        if self._session is None:
            import onnxruntime as ort

            available = ort.get_available_providers()
            use_cuda = self.device in ("auto", "cuda") and "CUDAExecutionProvider" in available
            if self.device == "cuda" and not use_cuda:
                raise RuntimeError("device='cuda' but ONNX Runtime has no CUDA provider here")
            providers = (
                ["CUDAExecutionProvider", "CPUExecutionProvider"]
                if use_cuda
                else ["CPUExecutionProvider"]
            )
            options = ort.SessionOptions()
            # Idle intra-op threads sleep instead of spinning: workers share cores with
            # decoding and other extractors (on a busy 2-core machine this cut the CPU
            # time of 16 patches from 1.9-2.3 s to 1.7 s).
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self._session = ort.InferenceSession(
                str(self.onnx_path()), options, providers=providers
            )
        return self._session

    def predict(self, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run ``(B, n_frames, 96)`` log-mel patches; return ``(taggram (B, n_tags),
        penultimate (B, 200))`` float32."""
        patches = np.ascontiguousarray(patches, dtype=np.float32)
        with self._lock:  # one ONNX session / module, shared by threads
            if self.backend == "onnx":
                taggram, penultimate = self._onnx_session().run(None, {"log_mel": patches})
                return taggram, penultimate
            import torch

            from ml.precision import use_full_float32

            module = self.torch_module()
            use_cuda = self.device in ("auto", "cuda") and torch.cuda.is_available()
            device = torch.device("cuda" if use_cuda else "cpu")
            use_full_float32(device)
            module.to(device)
            with torch.inference_mode():
                taggram, penultimate = module(torch.from_numpy(patches).to(device))
            return taggram.cpu().numpy(), penultimate.cpu().numpy()


def export_onnx(module, path: Path) -> None:
    """Export a :class:`~ml.features.musicnn.model.MusiCNN` to ``path`` (dynamic batch
    and patch length; inputs ``log_mel``, outputs ``taggram`` and ``penultimate``)."""
    import torch

    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.partial")
    example = torch.zeros(1, PATCH_FRAMES, N_MELS)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # The TorchScript exporter, as in ml.export: no extra package needed, exact
            # for this feed-forward graph; its deprecation notice is expected, and so
            # is its note that a strided slice cannot be constant-folded.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            torch.onnx.export(
                module.cpu().eval(), (example,), str(partial),
                input_names=["log_mel"], output_names=["taggram", "penultimate"],
                dynamic_axes={"log_mel": {0: "batch", 1: "frames"}, "taggram": {0: "batch"},
                              "penultimate": {0: "batch"}},
                opset_version=17, dynamo=False,
            )  # fmt: skip
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _digest(prefix: str) -> str:
    """A short content hash of a checkpoint's two files."""
    digest = hashlib.sha256()
    for suffix in (".index", ".data-00000-of-00001"):
        digest.update(Path(prefix + suffix).read_bytes())
    return digest.hexdigest()[:16]


def patches_per_second(log_mel: np.ndarray, n_rows: int) -> np.ndarray:
    """The ``(n_rows, 187, 96)`` patches of the 1 Hz grid (see :func:`patch_starts`)."""
    if log_mel.shape[0] < PATCH_FRAMES:  # repeat-pad short signals to one patch
        reps = -(-PATCH_FRAMES // log_mel.shape[0])
        log_mel = np.tile(log_mel, (reps, 1))[:PATCH_FRAMES]
    starts = patch_starts(log_mel.shape[0], n_rows)
    windows = np.lib.stride_tricks.sliding_window_view(log_mel, PATCH_FRAMES, axis=0)
    return np.ascontiguousarray(windows[starts].transpose(0, 2, 1))


@register_extractor
class MusicnnAudio(AudioExtractor):
    """MusiCNN (MSD) penultimate features, 200-d, one row per second (module docstring)."""

    name: ClassVar[str] = "musicnn"
    version: ClassVar[str] = "msd-1"
    dim = 200
    sample_rate = SAMPLE_RATE

    def __init__(
        self, model: MusicnnModel | None = None, instruments: MusicnnModel | None = None
    ) -> None:
        self.network = model if model is not None else MusicnnModel("MSD_musicnn")
        self._instruments = instruments

    @property
    def instruments(self) -> MusicnnModel:
        """The MTT model, whose tags name instruments (loaded on first use)."""
        if self._instruments is None:
            self._instruments = MusicnnModel("MTT_musicnn")
        return self._instruments

    @property
    def tag_names(self) -> tuple[str, ...]:
        """The vocabulary of the tags of :meth:`extract_tagged` (:data:`TAG_NAMES`)."""
        return TAG_NAMES

    @property
    def tags_source(self) -> str:
        """What the tags of :meth:`extract_tagged` come from (stored with them)."""
        return f"audio/{self.name}@{TAGS_VERSION}"

    def extract(self, y: np.ndarray, sr: int) -> np.ndarray:
        """Features of a mono signal, ``(ceil(len(y) / sr), 200)`` float32.

        A signal at another rate than 16 kHz is resampled first.

        Raises
        ------
        FeatureInputError
            ``y`` is not a non-empty, finite, one-dimensional floating-point
            signal, or ``sr`` is not a positive integer.
        """
        return self.extract_with_tags(y, sr)[0]

    def extract_tagged(self, y: np.ndarray, sr: int) -> tuple[np.ndarray, TrackTags]:
        """``(features (T, 200), tags)``: the track's tags are the mean over its seconds
        of the MSD taggram of the same patches and of the MTT taggram of every
        :data:`MTT_STEP`-th patch, named by :data:`TAG_NAMES`."""
        patches = self._patches(y, sr)
        features, taggram = _run(self.network, patches)
        _, instruments = _run(self.instruments, patches[::MTT_STEP])
        tags = merge_tags(
            track_tags(taggram, self.network.tags, self.tags_source),
            track_tags(instruments, self.instruments.tags, self.tags_source),
        )
        return features, tags

    def extract_with_tags(self, y: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
        """``(features (T, 200), taggram (T, 50))`` of the same 1 Hz patches (MSD)."""
        return _run(self.network, self._patches(y, sr))

    def _patches(self, y: np.ndarray, sr: int) -> np.ndarray:
        y = checked_signal(y, sr)
        if sr != SAMPLE_RATE:
            y = librosa.resample(y, orig_sr=sr, target_sr=SAMPLE_RATE)
        return patches_per_second(log_mel_spectrogram(y), n_seconds(y.size / SAMPLE_RATE))


def _run(network: MusicnnModel, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(penultimate (B, 200), taggram (B, n_tags))`` float32 of ``patches``, in batches."""
    features, taggram = [], []
    for start in range(0, len(patches), BATCH_PATCHES):
        tags, penultimate = network.predict(patches[start : start + BATCH_PATCHES])
        taggram.append(tags)
        features.append(penultimate)
    return (np.concatenate(features).astype(np.float32, copy=False),
            np.concatenate(taggram).astype(np.float32, copy=False))  # fmt: skip
