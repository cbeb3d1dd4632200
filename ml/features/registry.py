"""A small registry of frame-feature extractors (one vector per second).

Every segment vector, and so every embedding, is a function of the frame
features it was made from: a model trained on one extractor's output is
meaningless on another's. Each extractor therefore has an identity, recorded
with every model and embedding (:class:`ExtractorSpec`):

* ``name`` -- what it is (``"handcrafted"``, ``"musicnn"``...);
* ``version`` -- bumped whenever its output changes for the same input;
* ``modality`` -- ``"audio"`` or ``"video"``;
* ``dim`` -- the length of its vectors.

Audio extractors take a mono signal, ``extract(y, sr) -> (T, dim)``, and declare
the ``sample_rate`` they analyse at (decode at that rate to avoid a resampling
step). Video extractors take RGB frames, ``extract(frames, fps) -> (T, dim)``,
and declare the ``frame_rate`` and ``frame_size`` ``(width, height)`` to decode
at. In both cases ``T = ceil(duration_s)``: row ``t`` describes the second
``[t, t + 1)``, the last row the final partial second (see
:mod:`ml.features.timegrid`). Outputs are raw ``float32`` values:
normalisation statistics belong to the trained model, not to the extractor.

Adding an extractor::

    @register_extractor
    class MyAudioExtractor(AudioExtractor):
        name, version, dim, sample_rate = "mine", "1", 64, 16000
        def extract(self, y, sr): ...

then ``get_extractor("mine", "audio")``. Extractors shipped with the project
are listed in ``_BUILTIN_MODULES`` and imported on first use.

Names joined by ``+`` ask for the concatenation of several extractors of one
modality (``"handcrafted+musicnn"``): each part sees the same input and their rows
are laid side by side (:class:`ConcatenatedAudio`, :class:`ConcatenatedVideo`).
"""

from __future__ import annotations

import abc
import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal, NamedTuple, TypeVar

import numpy as np

from ml.features.tags import TrackTags

__all__ = [
    "MODALITIES",
    "AudioExtractor",
    "ConcatenatedAudio",
    "ConcatenatedVideo",
    "ExtractorKey",
    "ExtractorSpec",
    "FeatureExtractor",
    "FeatureInputError",
    "Modality",
    "UnknownExtractorError",
    "VideoExtractor",
    "available_extractors",
    "get_extractor",
    "register_extractor",
]

Modality = Literal["audio", "video"]
MODALITIES: tuple[Modality, ...] = ("audio", "video")

# Modules whose import registers the project's own extractors.
_BUILTIN_MODULES = (
    "ml.features.audio_handcrafted",
    "ml.features.video_handcrafted",
    "ml.features.musicnn.extractor",
    "ml.features.pretrained",
    "ml.features.transnet",
)


class FeatureInputError(ValueError):
    """An extractor was given input it cannot analyse (wrong shape, dtype,
    rate, empty or non-finite data). The message says which."""


def checked_signal(y: np.ndarray, sr: int) -> np.ndarray:
    """``y`` as contiguous float32 after checking it is a usable mono signal at ``sr``."""
    if not isinstance(sr, (int, np.integer)) or isinstance(sr, bool) or sr <= 0:
        raise FeatureInputError(f"sr must be a positive integer, got {sr!r}")
    y = np.asarray(y)
    if y.ndim != 1:
        raise FeatureInputError(f"expected a mono signal of shape (n,), got shape {y.shape}")
    if y.size == 0:
        raise FeatureInputError("the signal is empty")
    if not np.issubdtype(y.dtype, np.floating):
        raise FeatureInputError(f"expected floating-point samples, got {y.dtype}")
    if not np.all(np.isfinite(y)):
        raise FeatureInputError("the signal holds NaN or infinite samples")
    return np.ascontiguousarray(y, dtype=np.float32)


class UnknownExtractorError(LookupError):
    """No extractor of that name is registered for that modality."""


@dataclass(frozen=True)
class ExtractorSpec:
    """The identity of an extractor, stored with every model and embedding."""

    name: str
    version: str
    modality: Modality
    dim: int

    @property
    def key(self) -> str:
        """A compact identifier, e.g. ``"audio/handcrafted@1"``."""
        return f"{self.modality}/{self.name}@{self.version}"


class ExtractorKey(NamedTuple):
    modality: Modality
    name: str


class FeatureExtractor(abc.ABC):
    """Common identity of audio and video extractors."""

    name: ClassVar[str]
    version: ClassVar[str]
    modality: ClassVar[Modality]
    dim: int

    @property
    def spec(self) -> ExtractorSpec:
        return ExtractorSpec(self.name, self.version, self.modality, int(self.dim))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec.key} dim={self.dim}>"


class AudioExtractor(FeatureExtractor):
    """Frame features from a mono signal."""

    modality: ClassVar[Modality] = "audio"
    #: The rate the extractor analyses at; other rates are resampled first.
    sample_rate: int

    @abc.abstractmethod
    def extract(self, y: np.ndarray, sr: int) -> np.ndarray:
        """Return ``(ceil(len(y) / sr), dim)`` float32 features, one row per second."""

    def extract_tagged(self, y: np.ndarray, sr: int) -> tuple[np.ndarray, TrackTags | None]:
        """``(features, tags)``: :meth:`extract`'s features and, for a tagging extractor
        (MusiCNN), the track's automatic tags from the same pass; None otherwise."""
        return self.extract(y, sr), None


class VideoExtractor(FeatureExtractor):
    """Frame features from RGB frames sampled at ``frame_rate``."""

    modality: ClassVar[Modality] = "video"
    #: Frames per second to decode at; ``None`` asks for the native rate (as
    #: ``load_video_frames(..., fps=None)``), whose value the caller then
    #: passes to :meth:`extract`.
    frame_rate: float | None
    #: ``(width, height)`` to decode at.
    frame_size: tuple[int, int]

    @abc.abstractmethod
    def extract(self, frames: np.ndarray, fps: float) -> np.ndarray:
        """Return ``(ceil(len(frames) / fps), dim)`` float32 features, one row per second."""


Factory = Callable[[], FeatureExtractor]
_F = TypeVar("_F", bound=Callable[[], FeatureExtractor])

_factories: dict[ExtractorKey, Factory] = {}
_instances: dict[ExtractorKey, FeatureExtractor] = {}
_lock = threading.Lock()
_builtins_loaded = False


def register_extractor(factory: _F) -> _F:
    """Register an extractor class (or a zero-argument factory with ``name``
    and ``modality`` attributes); usable as a decorator.

    Raises
    ------
    ValueError
        The modality is not ``"audio"`` or ``"video"``, or another factory is
        already registered under the same modality and name.
    """
    name, modality = getattr(factory, "name", None), getattr(factory, "modality", None)
    if not isinstance(name, str) or not name or modality not in MODALITIES:
        raise ValueError(f"{factory!r} needs a non-empty 'name' and a 'modality' in {MODALITIES}")
    key = ExtractorKey(modality, name)
    with _lock:
        existing = _factories.get(key)
        if existing is not None and existing is not factory:
            raise ValueError(f"an extractor {modality}/{name} is already registered: {existing!r}")
        _factories[key] = factory
    return factory


def get_extractor(name: str, modality: Modality) -> FeatureExtractor:
    """The extractor registered as ``modality``/``name``, created once per process.

    Raises
    ------
    UnknownExtractorError
        Nothing is registered under that name; the message lists what is.
    """
    _load_builtins()
    if CONCATENATION in name:
        return _concatenation(name, modality)
    key = ExtractorKey(modality, name)
    with _lock:
        instance = _instances.get(key)
        if instance is None:
            factory = _factories.get(key)
            if factory is None:
                known = ", ".join(f"{m}/{n}" for m, n in sorted(_factories)) or "none"
                raise UnknownExtractorError(
                    f"no {modality} feature extractor named {name!r} (available: {known})"
                )
            instance = _instances[key] = factory()
    return instance


CONCATENATION = "+"


def _concatenation(name: str, modality: Modality) -> FeatureExtractor:
    parts = name.split(CONCATENATION)
    if len(parts) != len(set(parts)) or not all(parts):
        raise UnknownExtractorError(f"{name!r}: a concatenation names distinct extractors")
    extractors = [get_extractor(part, modality) for part in parts]
    kind = ConcatenatedAudio if modality == "audio" else ConcatenatedVideo
    return kind(extractors)  # type: ignore[arg-type]


def _side_by_side(parts: list[np.ndarray]) -> np.ndarray:
    # Parts may differ by a row where a rate does not divide the duration evenly.
    n_rows = min(len(p) for p in parts)
    return np.concatenate([p[:n_rows] for p in parts], axis=1).astype(np.float32, copy=False)


class ConcatenatedAudio(AudioExtractor):
    """Several audio extractors side by side; analyses at the highest of their rates
    (each part resamples to its own rate, as every audio extractor does)."""

    def __init__(self, parts: list[AudioExtractor]) -> None:
        self.parts = parts
        self.name = CONCATENATION.join(p.name for p in parts)  # type: ignore[misc]
        self.version = CONCATENATION.join(p.version for p in parts)  # type: ignore[misc]
        self.dim = sum(int(p.dim) for p in parts)
        self.sample_rate = max(int(p.sample_rate) for p in parts)

    def extract(self, y: np.ndarray, sr: int) -> np.ndarray:
        return _side_by_side([p.extract(y, sr) for p in self.parts])

    def extract_tagged(self, y: np.ndarray, sr: int) -> tuple[np.ndarray, TrackTags | None]:
        """The parts side by side, and the tags of the first part that tags."""
        outputs = [p.extract_tagged(y, sr) for p in self.parts]
        tags = next((t for _, t in outputs if t is not None), None)
        return _side_by_side([f for f, _ in outputs]), tags


class ConcatenatedVideo(VideoExtractor):
    """Several video extractors side by side; they must decode frames alike."""

    def __init__(self, parts: list[VideoExtractor]) -> None:
        decodes = {(p.frame_rate, tuple(p.frame_size)) for p in parts}
        if len(decodes) > 1:
            described = ", ".join(
                f"{p.name} at {p.frame_rate or 'native'} fps {p.frame_size[0]}x{p.frame_size[1]}"
                for p in parts
            )
            raise UnknownExtractorError(
                f"video extractors that decode frames differently cannot be concatenated "
                f"({described})"
            )
        self.parts = parts
        self.name = CONCATENATION.join(p.name for p in parts)  # type: ignore[misc]
        self.version = CONCATENATION.join(p.version for p in parts)  # type: ignore[misc]
        self.dim = sum(int(p.dim) for p in parts)
        self.frame_rate = parts[0].frame_rate  # type: ignore[misc]
        self.frame_size = parts[0].frame_size

    def extract(self, frames: np.ndarray, fps: float) -> np.ndarray:
        return _side_by_side([p.extract(frames, fps) for p in self.parts])


def available_extractors(modality: Modality | None = None) -> list[ExtractorKey]:
    """Registered ``(modality, name)`` pairs, sorted, optionally of one modality."""
    _load_builtins()
    with _lock:
        keys = sorted(_factories)
    return [k for k in keys if modality is None or k.modality == modality]


def _load_builtins() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        for module in _BUILTIN_MODULES:
            importlib.import_module(module)
        _builtins_loaded = True
