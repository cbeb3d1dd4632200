"""The constant-Q input of MuSimNet (docs/method.md §3).

A log-power constant-Q transform with 96 bins (8 octaves of 12 semitones from C1,
32.7 Hz, up to B8, about 7.9 kHz), a hop of 1024 samples at 44.1 kHz (about 23 ms per
frame), cut into patches of 512 frames (about 11.9 s). Audio at another rate is
resampled to 44.1 kHz first, so the frame rate and the bin frequencies never depend on
the source file.

The log is taken in decibels against a fixed reference (``power_to_db`` with
``ref=1``), floored at :data:`FLOOR_DB`: the loudness of a track is kept (it is
information about the music), and digital silence does not produce -inf. Per-bin
standardisation is the model's job (its normalisation buffers), not this module's.
"""

from __future__ import annotations

import os

import librosa
import numpy as np

__all__ = [
    "BINS_PER_OCTAVE",
    "CQT_VERSION",
    "FLOOR_DB",
    "FMIN_HZ",
    "HOP_LENGTH",
    "N_BINS",
    "PATCH_FRAMES",
    "SAMPLE_RATE",
    "CQTError",
    "frames_to_seconds",
    "load_log_cqt",
    "log_cqt",
    "patch_starts",
    "random_patches",
]

SAMPLE_RATE = 44_100
HOP_LENGTH = 1024
N_BINS = 96
BINS_PER_OCTAVE = 12
FMIN_HZ = float(librosa.note_to_hz("C1"))
PATCH_FRAMES = 512
FLOOR_DB = -100.0
# Bump when anything above changes the numbers, so cached inputs are recomputed.
CQT_VERSION = "cqt96-h1024-sr44100-db-v1"


class CQTError(ValueError):
    """Raised for audio or CQT arrays that cannot become MuSimNet input."""


def log_cqt(y: np.ndarray, sr: int) -> np.ndarray:
    """Log-power constant-Q transform of mono audio.

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,)
        Mono audio, float, finite.
    sr : int
        Its sample rate; resampled to :data:`SAMPLE_RATE` when different.

    Returns
    -------
    np.ndarray of float32, shape (N_BINS, n_frames)
        Power in dB (re 1.0), floored at :data:`FLOOR_DB`. Frame ``j`` is centred at
        ``j * HOP_LENGTH / SAMPLE_RATE`` seconds.

    Raises
    ------
    CQTError
        If ``y`` is not a non-empty 1-D finite array or ``sr`` is not positive.
    """
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0:
        raise CQTError(f"expected mono audio of shape (n_samples,), got {y.shape}")
    if sr <= 0:
        raise CQTError(f"sample rate must be positive, got {sr}")
    if not np.isfinite(y).all():
        raise CQTError("audio holds NaN or infinite samples")
    y = y.astype(np.float32, copy=False)
    if sr != SAMPLE_RATE:
        y = librosa.resample(y, orig_sr=sr, target_sr=SAMPLE_RATE)
    spectrum = librosa.cqt(
        y,
        sr=SAMPLE_RATE,
        hop_length=HOP_LENGTH,
        fmin=FMIN_HZ,
        n_bins=N_BINS,
        bins_per_octave=BINS_PER_OCTAVE,
    )
    power = np.abs(spectrum) ** 2
    db = librosa.power_to_db(power, ref=1.0, amin=10.0 ** (FLOOR_DB / 10.0), top_db=None)
    # log10(amin) is FLOOR_DB only to within rounding, which depends on the CPU's SIMD
    # code (-100.00001 on some): clip, so that silence equals the padding everywhere.
    return np.maximum(db, FLOOR_DB).astype(np.float32)


def load_log_cqt(path: str | os.PathLike[str], **load_kwargs) -> np.ndarray:
    """Decode any file ffmpeg reads (resampled to 44.1 kHz mono) and return its
    :func:`log_cqt`. Keyword arguments go to :func:`ml.media.decode.load_audio`
    (``min_duration_s``, ``max_duration_s``, ``timeout_s``...); its
    :class:`~ml.media.errors.MediaError` subclasses propagate."""
    from ml.media.decode import load_audio  # media decoding only when reading files

    return log_cqt(load_audio(path, sr=SAMPLE_RATE, **load_kwargs), SAMPLE_RATE)


def frames_to_seconds(n_frames: int | np.ndarray) -> float | np.ndarray:
    """Duration of ``n_frames`` CQT frames (512 frames -> about 11.9 s)."""
    return np.asarray(n_frames) * HOP_LENGTH / SAMPLE_RATE


def _check_cqt(cqt: np.ndarray) -> np.ndarray:
    cqt = np.asarray(cqt)
    if cqt.ndim != 2 or cqt.shape[1] == 0:
        raise CQTError(f"expected a (n_bins, n_frames) array, got {cqt.shape}")
    return cqt


def patch_starts(
    n_frames: int,
    n_patches: int,
    patch_frames: int = PATCH_FRAMES,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """First frame of ``n_patches`` patches drawn uniformly in a track of ``n_frames``.

    Tracks shorter than a patch give start 0 (the patch is padded, see
    :func:`random_patches`).
    """
    if n_patches < 1 or patch_frames < 1:
        raise CQTError("n_patches and patch_frames must be >= 1")
    rng = np.random.default_rng() if rng is None else rng
    return rng.integers(0, max(n_frames - patch_frames, 0) + 1, size=n_patches)


def random_patches(
    cqt: np.ndarray,
    n_patches: int,
    patch_frames: int = PATCH_FRAMES,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """``n_patches`` random excerpts of ``patch_frames`` frames: shape
    ``(n_patches, n_bins, patch_frames)``, float32.

    A track shorter than a patch is padded at the end with :data:`FLOOR_DB` (silence),
    which is what the track would sound like if it were that long.
    """
    cqt = _check_cqt(cqt)
    n_bins, n_frames = cqt.shape
    if n_frames < patch_frames:
        padded = np.full((n_bins, patch_frames), FLOOR_DB, dtype=np.float32)
        padded[:, :n_frames] = cqt
        cqt, n_frames = padded, patch_frames
    starts = patch_starts(n_frames, n_patches, patch_frames, rng)
    return np.stack([cqt[:, s : s + patch_frames] for s in starts]).astype(np.float32, copy=False)
