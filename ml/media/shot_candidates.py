"""A cheap first pass over 48x27 frames: where might a shot transition be?

TransNetV2 costs about a second of CPU per second of video. Most of a video is the
inside of shots, where consecutive frames share their colours; this module finds,
with plain numpy over the frames the network reads anyway, the frames where that
is *not* clearly so, so that :class:`ml.media.shots.ShotDetector` runs the network
only there. It is built for recall, not precision: a frame it leaves out is a frame
on which the network is never asked, so every test errs towards "maybe".

Three kinds of evidence, all vectorised over the whole sequence:

* **Abrupt change** (hard cuts, flashes): the colour-histogram distance between
  consecutive frames (:func:`histogram_distances`) above an absolute level, or the
  mean absolute luma difference (:func:`luma_differences`) standing out from its
  neighbourhood (a spike against the local median, as in PySceneDetect's adaptive
  content detector), which catches cuts between shots of the same palette.
* **Gradual change** (dissolves, fades, wipes): the histogram distance between the
  frames ``half`` before and ``half`` after each frame
  (:func:`centered_histogram_distances`), less the largest single-frame step inside
  that span. A hard cut explains all of its span's change by one step and scores
  nothing; a dissolve spreads its change over many small steps and scores high.
  Several spans (:data:`GRADUAL_HALF_SPANS`) cover transitions from a few frames to
  about two seconds. A span that only partly covers a transition may still score,
  so each flagged run is trimmed by half a span at both ends (:func:`shrink`);
  the network's own peak lies inside the transition. Long smooth camera motion that drifts the colours scores here
  too: that is a stretch the pass cannot rule out, and the network reads it whole.
* **Low contrast** (black frames, fades, dim or flat stretches): the spatial
  standard deviation of luma (:func:`luma_contrast`) below a level, where the
  differences above are too small to be trusted.

Every flagged frame is widened by a margin (:func:`widen`), and the union is the
mask returned by :func:`candidate_frames`.

Units: histograms are 512-bin RGB histograms (3 bits per channel, as TransNetV2's
own colour layer) normalised to sum 1, and a histogram distance is half their L1
distance, the fraction of pixels that would have to change bin, in ``[0, 1]``. Luma
values are in ``[0, 1]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "CUT_HISTOGRAM_LEVEL",
    "GRADUAL_LEVEL",
    "GRADUAL_HALF_SPANS",
    "LOW_CONTRAST_LEVEL",
    "SPIKE_RATIO",
    "SPIKE_FLOOR",
    "MARGIN_FRAMES",
    "Candidates",
    "colour_histograms",
    "histogram_distances",
    "centered_histogram_distances",
    "sliding_max",
    "sliding_median",
    "luma",
    "luma_differences",
    "luma_contrast",
    "widen",
    "shrink",
    "candidate_frames",
]

#: Histogram distance between consecutive frames above which a frame may start a shot.
CUT_HISTOGRAM_LEVEL = 0.15
#: Unexplained histogram change over a span above which the span may be a transition.
GRADUAL_LEVEL = 0.12
#: Half-lengths, in frames, of the spans tested for gradual change.
GRADUAL_HALF_SPANS = (3, 8, 20)
#: Spatial standard deviation of luma below which a frame is too flat to judge.
LOW_CONTRAST_LEVEL = 0.04
#: A luma difference this many times its local median is a spike...
SPIKE_RATIO = 2.5
#: ...when it also exceeds this absolute level.
SPIKE_FLOOR = 0.03
#: Frames added on each side of every flagged frame.
MARGIN_FRAMES = 4

_SPIKE_RADIUS = 12  # frames each side of the local median of luma differences
_LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class Candidates:
    """The first pass's reading of a sequence, one boolean per frame.

    Attributes
    ----------
    abrupt, gradual, low_contrast : np.ndarray
        ``(n_frames,)`` bool, frames flagged by each kind of evidence (before the
        margin is added).
    mask : np.ndarray
        ``(n_frames,)`` bool, the union widened by the margin: the frames on which
        the network must be asked.
    """

    abrupt: np.ndarray
    gradual: np.ndarray
    low_contrast: np.ndarray
    mask: np.ndarray

    @property
    def share(self) -> float:
        """Fraction of frames in :attr:`mask`."""
        return float(self.mask.mean()) if self.mask.size else 0.0


def _checked(frames: np.ndarray) -> np.ndarray:
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
        raise TypeError(
            f"frames must be a uint8 numpy array, got "
            f"{getattr(frames, 'dtype', type(frames).__name__)}"
        )
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must have shape (n, height, width, 3), got {frames.shape}")
    return frames


def colour_histograms(frames: np.ndarray) -> np.ndarray:
    """512-bin RGB histograms (3 bits per channel) of uint8 frames, summing to 1.

    Parameters
    ----------
    frames : np.ndarray
        ``(n, height, width, 3)`` uint8 RGB.

    Returns
    -------
    np.ndarray
        ``(n, 512)`` float32; bin ``(r >> 5) * 64 + (g >> 5) * 8 + (b >> 5)``.
    """
    frames = _checked(frames)
    n = len(frames)
    if n == 0:
        return np.zeros((0, 512), dtype=np.float32)
    q = (frames >> 5).astype(np.int64)
    bins = (q[..., 0] << 6) | (q[..., 1] << 3) | q[..., 2]
    bins = bins.reshape(n, -1) + (np.arange(n, dtype=np.int64)[:, None] << 9)
    counts = np.bincount(bins.ravel(), minlength=n * 512).reshape(n, 512)
    return (counts / counts.sum(axis=1, keepdims=True)).astype(np.float32)


def histogram_distances(histograms: np.ndarray, lag: int = 1) -> np.ndarray:
    """Distance of each frame's histogram to that of the frame ``lag`` before it.

    Returns ``(n,)`` float32 in ``[0, 1]`` (half the L1 distance); the first ``lag``
    frames, which have no predecessor, get 0.
    """
    if lag < 1:
        raise ValueError(f"lag must be a positive integer, got {lag!r}")
    h = np.asarray(histograms, dtype=np.float32)
    out = np.zeros(len(h), dtype=np.float32)
    if len(h) > lag:
        out[lag:] = 0.5 * np.abs(h[lag:] - h[:-lag]).sum(axis=1)
    return out


def centered_histogram_distances(histograms: np.ndarray, half: int) -> np.ndarray:
    """Distance between the histograms ``half`` frames before and after each frame.

    Indices are clipped to the sequence, so the ends compare with the first or last
    frame. Returns ``(n,)`` float32 in ``[0, 1]``.
    """
    if half < 1:
        raise ValueError(f"half must be a positive integer, got {half!r}")
    h = np.asarray(histograms, dtype=np.float32)
    index = np.arange(len(h))
    before = h[np.maximum(index - half, 0)]
    after = h[np.minimum(index + half, len(h) - 1)]
    return 0.5 * np.abs(after - before).sum(axis=1)


def sliding_max(x: np.ndarray, before: int, after: int) -> np.ndarray:
    """``out[t] = max(x[t - before : t + after + 1])``, the window clipped to ``x``."""
    x = np.asarray(x)
    if len(x) == 0:
        return x.copy()
    padded = np.pad(x, (before, after), mode="edge")
    return np.lib.stride_tricks.sliding_window_view(padded, before + after + 1).max(axis=1)


def sliding_median(x: np.ndarray, radius: int) -> np.ndarray:
    """``out[t] = median(x[t - radius : t + radius + 1])``, the ends repeating ``x``'s."""
    x = np.asarray(x)
    if len(x) == 0:
        return x.copy()
    padded = np.pad(x, radius, mode="edge")
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, 2 * radius + 1), axis=1)


def luma(frames: np.ndarray) -> np.ndarray:
    """``(n, height, width)`` float32 luma (BT.601 weights) in ``[0, 1]``."""
    frames = _checked(frames)
    return frames.astype(np.float32) @ (_LUMA_WEIGHTS / 255.0)


def luma_differences(y: np.ndarray) -> np.ndarray:
    """Mean absolute luma difference of each frame to the one before, ``(n,)``; 0 first."""
    y = np.asarray(y, dtype=np.float32)
    out = np.zeros(len(y), dtype=np.float32)
    if len(y) > 1:
        out[1:] = np.abs(y[1:] - y[:-1]).mean(axis=(1, 2))
    return out


def luma_contrast(y: np.ndarray) -> np.ndarray:
    """Spatial standard deviation of each frame's luma, ``(n,)`` in ``[0, 0.5]``."""
    y = np.asarray(y, dtype=np.float32)
    return y.reshape(len(y), -1).std(axis=1)


def widen(mask: np.ndarray, before: int, after: int) -> np.ndarray:
    """Also flag the ``before`` frames before and ``after`` frames after every flagged frame."""
    mask = np.asarray(mask, dtype=bool)
    if before < 0 or after < 0:
        raise ValueError(f"margins must be non-negative, got {before!r}, {after!r}")
    # A frame is flagged when a flagged frame lies within [t - after, t + before].
    return sliding_max(mask, after, before)


def shrink(mask: np.ndarray, frames: int) -> np.ndarray:
    """Unflag ``frames`` frames at each end of every run of flagged frames (erosion).

    Runs of at most ``2 * frames`` frames vanish; the ends of the sequence count as
    flagged, so a run touching them is trimmed on its inner side only.
    """
    mask = np.asarray(mask, dtype=bool)
    if frames < 0:
        raise ValueError(f"frames must be non-negative, got {frames!r}")
    return ~widen(~mask, frames, frames)


def candidate_frames(
    frames: np.ndarray,
    *,
    cut_level: float = CUT_HISTOGRAM_LEVEL,
    gradual_level: float = GRADUAL_LEVEL,
    half_spans: tuple[int, ...] = GRADUAL_HALF_SPANS,
    low_contrast_level: float = LOW_CONTRAST_LEVEL,
    spike_ratio: float = SPIKE_RATIO,
    spike_floor: float = SPIKE_FLOOR,
    margin: int = MARGIN_FRAMES,
) -> Candidates:
    """Frames on which a shot detector must look: possible transitions and unsure stretches.

    Parameters
    ----------
    frames : np.ndarray
        ``(n, height, width, 3)`` uint8 RGB at the video's native rate (48x27 in
        the shot detector).
    cut_level : float
        Consecutive-frame histogram distance that flags an abrupt change.
    gradual_level : float
        Span histogram distance, beyond the largest single step inside the span,
        that flags a gradual change.
    half_spans : tuple of int
        Half-lengths of the spans, in frames.
    low_contrast_level : float
        Luma standard deviation below which a frame is flagged.
    spike_ratio, spike_floor : float
        A luma difference above both ``spike_ratio`` times its local median and
        ``spike_floor`` flags an abrupt change.
    margin : int
        Frames added on each side of every flagged frame.

    Returns
    -------
    Candidates
        The flags of each kind and the widened union.

    Raises
    ------
    TypeError
        ``frames`` is not a uint8 array.
    ValueError
        ``frames`` has the wrong shape, or a level, span or margin is out of range.
    """
    frames = _checked(frames)
    if not all(isinstance(h, int) and h >= 1 for h in half_spans) or not half_spans:
        raise ValueError(f"half_spans must be positive integers, got {half_spans!r}")
    if margin < 0:
        raise ValueError(f"margin must be non-negative, got {margin!r}")
    for name, value in (
        ("cut_level", cut_level),
        ("gradual_level", gradual_level),
        ("low_contrast_level", low_contrast_level),
        ("spike_floor", spike_floor),
    ):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    if spike_ratio < 1.0:
        raise ValueError(f"spike_ratio must be at least 1, got {spike_ratio!r}")
    n = len(frames)
    if n == 0:
        empty = np.zeros(0, dtype=bool)
        return Candidates(empty, empty, empty, empty)

    histograms = colour_histograms(frames)
    step = histogram_distances(histograms, 1)
    y = luma(frames)
    differences = luma_differences(y)
    spike = (differences > spike_floor) & (
        differences > spike_ratio * sliding_median(differences, _SPIKE_RADIUS)
    )
    # A change between frames t - 1 and t concerns both (the network marks t - 1).
    abrupt = widen((step > cut_level) | spike, 1, 0)

    gradual = np.zeros(n, dtype=bool)
    for half in half_spans:
        span = centered_histogram_distances(histograms, half)
        # The span [t - half, t + half] holds the steps ending at t - half + 1 .. t + half.
        largest_step = sliding_max(step, half - 1, half)
        # A span that only partly covers a transition can still exceed the level,
        # so the flagged centres overhang it by up to ``half`` frames: trim half of it.
        gradual |= shrink(span - largest_step > gradual_level, half // 2)

    low_contrast = luma_contrast(y) < low_contrast_level
    mask = widen(abrupt | gradual | low_contrast, margin, margin)
    return Candidates(abrupt=abrupt, gradual=gradual, low_contrast=low_contrast, mask=mask)
