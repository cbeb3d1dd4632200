"""Handcrafted video frame features at 1 Hz: colour, texture and motion.

The video is sampled at :data:`FRAME_RATE` frames per second at
:data:`FRAME_SIZE` (decode with ``load_video_frames(path, 4, 64, 36)``): enough
to see colour, composition and movement, and cheap (a minute is 240 tiny
frames). Per sampled frame:

* colour: a 12-bin hue histogram weighted by saturation (hue means nothing on
  grey pixels, so a black-and-white frame has an empty hue histogram), 4-bin
  saturation and value histograms, colourfulness (Hasler and Suesstrunk, 2003),
  brightness (mean Rec. 601 luma), contrast (luma standard deviation), mean
  saturation, and the mean RGB colour of each quadrant (composition);
* texture: edge density (share of pixels whose Sobel gradient exceeds a tenth
  of the luma range), mean gradient magnitude, and a 4-bin histogram of edge
  orientations weighted by gradient magnitude;
* motion: the mean absolute luma difference from the previous sampled frame,
  and the share of pixels that changed by more than a tenth of the luma range.
  The first frame, which has no predecessor, takes the values of the second.

Per second (:mod:`ml.features.timegrid` rules) every feature is averaged, and
the motion energy also gives its maximum (a hard cut inside the second shows as
a peak). Motion values depend on the time between sampled frames: they are
comparable between videos sampled at the same rate, which is why the extractor
declares one. Values are raw: standardising them is the model's job.
"""

from __future__ import annotations

import math

import numpy as np

from ml.features.registry import FeatureInputError, VideoExtractor, register_extractor
from ml.features.timegrid import n_seconds, pool_per_second

__all__ = ["FEATURE_NAMES", "FRAME_RATE", "FRAME_SIZE", "HandcraftedVideo"]

FRAME_RATE = 4.0
FRAME_SIZE = (64, 36)  # (width, height), 16:9
N_HUE_BINS = 12
N_SATURATION_BINS = 4
N_VALUE_BINS = 4
N_ORIENTATION_BINS = 4
#: A luma step of a tenth of the range counts as an edge / as a change.
EDGE_THRESHOLD = 0.1
CHANGE_THRESHOLD = 0.1
#: Frames processed at once: bounds the float32 working set (~20 MB at 64x36).
CHUNK_FRAMES = 512
_LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _names() -> tuple[str, ...]:
    names = [f"hue{i}" for i in range(N_HUE_BINS)]
    names += [f"saturation_bin{i}" for i in range(N_SATURATION_BINS)]
    names += [f"value_bin{i}" for i in range(N_VALUE_BINS)]
    names += ["colourfulness", "brightness", "contrast", "saturation"]
    names += [f"{quadrant}_{c}" for quadrant in ("top_left", "top_right", "bottom_left",
                                                 "bottom_right") for c in "rgb"]  # fmt: skip
    names += ["edge_density", "gradient_mean"]
    names += [f"orientation{int(a)}deg" for a in np.arange(N_ORIENTATION_BINS) * 180 / 4]
    names += ["motion_mean", "changed_share", "motion_max"]
    return tuple(names)


#: The meaning of each output column, in order.
FEATURE_NAMES = _names()


@register_extractor
class HandcraftedVideo(VideoExtractor):
    """Colour, texture and motion features at 1 Hz from small sampled frames."""

    name = "handcrafted"
    version = "1"
    frame_rate = FRAME_RATE
    frame_size = FRAME_SIZE
    dim = len(FEATURE_NAMES)
    feature_names = FEATURE_NAMES

    def extract(self, frames: np.ndarray, fps: float) -> np.ndarray:
        """Features of RGB frames sampled at ``fps``, ``(ceil(n / fps), dim)`` float32.

        Frame ``i`` is taken to show time ``i / fps``. Any frame size of at
        least 3 x 3 works; :data:`FRAME_SIZE` is what the values are meant for.

        Raises
        ------
        FeatureInputError
            ``frames`` is not a non-empty ``(n, h, w, 3)`` uint8 array with
            ``h, w >= 3``, or ``fps`` is not positive and finite.
        """
        _check_frames(frames, fps)
        return handcrafted_video_features(frames, fps)


def handcrafted_video_features(frames: np.ndarray, fps: float) -> np.ndarray:
    """The computation behind :class:`HandcraftedVideo`."""
    per_frame, luma = [], []
    for start in range(0, frames.shape[0], CHUNK_FRAMES):
        rgb = frames[start : start + CHUNK_FRAMES].astype(np.float32) / 255.0
        y = rgb @ _LUMA_WEIGHTS
        per_frame.append(np.hstack([_colour(rgb, y), _texture(y)]))
        luma.append(y)
    motion = motion_features(np.concatenate(luma))

    n_rows = n_seconds(frames.shape[0] / fps)
    times = np.arange(frames.shape[0]) / fps
    return np.hstack([
        pool_per_second(np.vstack(per_frame), times, n_rows),
        pool_per_second(motion, times, n_rows),
        pool_per_second(motion[:, 0], times, n_rows, ("max",)),
    ])  # fmt: skip


def rgb_to_hsv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hue in [0, 1) (red = 0), saturation and value in [0, 1], from RGB in [0, 1]."""
    value = rgb.max(axis=-1)
    spread = value - rgb.min(axis=-1)
    saturation = np.divide(spread, value, out=np.zeros_like(value), where=value > 0)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    safe = np.where(spread > 0, spread, 1.0)
    hue = np.where(
        value == r, (g - b) / safe, np.where(value == g, 2.0 + (b - r) / safe, 4.0 + (r - g) / safe)
    )
    hue = np.where(spread > 0, (hue / 6.0) % 1.0, 0.0)
    return hue.astype(np.float32), saturation, value


def _colour(rgb: np.ndarray, luma: np.ndarray) -> np.ndarray:
    n = rgb.shape[0]
    hue, saturation, value = rgb_to_hsv(rgb)
    pixels = hue[0].size
    hue_hist = _histograms(hue, N_HUE_BINS, weights=saturation) / pixels
    sat_hist = _histograms(saturation, N_SATURATION_BINS) / pixels
    val_hist = _histograms(value, N_VALUE_BINS) / pixels

    # Colourfulness on the opponent axes, on the 0-1 scale.
    rg = rgb[..., 0] - rgb[..., 1]
    yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    flat_rg, flat_yb = rg.reshape(n, -1), yb.reshape(n, -1)
    colourfulness = np.hypot(flat_rg.std(1), flat_yb.std(1)) + 0.3 * np.hypot(
        flat_rg.mean(1), flat_yb.mean(1)
    )
    flat_luma = luma.reshape(n, -1)
    h, w = luma.shape[1:]
    quadrants = [
        rgb[:, rows, cols].mean(axis=(1, 2))
        for rows in (slice(0, h // 2), slice(h // 2, h))
        for cols in (slice(0, w // 2), slice(w // 2, w))
    ]
    return np.column_stack([
        hue_hist, sat_hist, val_hist,
        colourfulness, flat_luma.mean(1), flat_luma.std(1), saturation.reshape(n, -1).mean(1),
        *quadrants,
    ])  # fmt: skip


def _texture(luma: np.ndarray) -> np.ndarray:
    """Sobel edge density, mean gradient and orientation histogram per frame."""
    # Sobel on the interior pixels, normalised so that a full-range step gives 1.
    smooth_rows = luma[:, :-2] + 2 * luma[:, 1:-1] + luma[:, 2:]
    smooth_cols = luma[:, :, :-2] + 2 * luma[:, :, 1:-1] + luma[:, :, 2:]
    gx = (smooth_rows[:, :, 2:] - smooth_rows[:, :, :-2]) / 4.0
    gy = (smooth_cols[:, 2:] - smooth_cols[:, :-2]) / 4.0
    magnitude = np.hypot(gx, gy)
    n = luma.shape[0]
    flat = magnitude.reshape(n, -1)
    # Orientation of the edge, modulo 180 degrees, binned around 0, 45, 90, 135.
    angle = (np.arctan2(gy, gx) % np.pi) / np.pi
    orientation = (np.floor(angle * N_ORIENTATION_BINS + 0.5) % N_ORIENTATION_BINS).astype(int)
    orient_hist = _binned_sums(orientation, N_ORIENTATION_BINS, magnitude)
    total = flat.sum(1, keepdims=True)
    orient_hist = np.divide(orient_hist, total, out=np.zeros_like(orient_hist), where=total > 0)
    return np.column_stack([(flat > EDGE_THRESHOLD).mean(1), flat.mean(1), orient_hist])


def motion_features(luma: np.ndarray) -> np.ndarray:
    """Per frame: mean absolute luma change from the previous frame and the
    share of pixels changed by more than :data:`CHANGE_THRESHOLD`; the first
    frame copies the second (zeros for a single frame). Shape ``(n, 2)``."""
    n = luma.shape[0]
    if n < 2:
        return np.zeros((n, 2), dtype=np.float32)
    diff = np.abs(np.diff(luma, axis=0)).reshape(n - 1, -1)
    motion = np.column_stack([diff.mean(1), (diff > CHANGE_THRESHOLD).mean(1)])
    return np.vstack([motion[:1], motion]).astype(np.float32)


def _histograms(values: np.ndarray, n_bins: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Per-frame histograms of values in [0, 1] (1.0 falls in the last bin)."""
    bins = np.minimum((values * n_bins).astype(int), n_bins - 1)
    return _binned_sums(bins, n_bins, np.ones_like(values) if weights is None else weights)


def _binned_sums(bins: np.ndarray, n_bins: int, weights: np.ndarray) -> np.ndarray:
    n = bins.shape[0]
    offsets = (np.arange(n) * n_bins)[:, None]
    flat = (bins.reshape(n, -1) + offsets).ravel()
    sums = np.bincount(flat, weights=weights.reshape(-1), minlength=n * n_bins)
    return sums.reshape(n, n_bins).astype(np.float32)


def _check_frames(frames: np.ndarray, fps: float) -> None:
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
        raise FeatureInputError(
            f"expected a uint8 array of RGB frames, got {getattr(frames, 'dtype', type(frames))}"
        )
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise FeatureInputError(f"expected frames of shape (n, h, w, 3), got {frames.shape}")
    if frames.shape[0] == 0:
        raise FeatureInputError("no frames")
    if min(frames.shape[1:3]) < 3:
        raise FeatureInputError(f"frames must be at least 3 x 3 pixels, got {frames.shape[1:3]}")
    if isinstance(fps, bool) or not (isinstance(fps, (int, float, np.number)) and
                                     math.isfinite(fps) and fps > 0):  # fmt: skip
        raise FeatureInputError(f"fps must be positive and finite, got {fps!r}")
