"""Shot length against bar and beat length (docs/method.md §9, first measure).

The *dominant shot length* of a video is the peak of the distribution of its shot
durations. A histogram's peak depends on where its bins fall; here the histogram is a
Gaussian kernel density over ``log2`` of the durations (bandwidth 0.2 octave by
default, about +-15 %), so that a shot of 0.5 s and one of 8 s are resolved with
the same relative precision, the peak moves continuously with the data, and shots
that all last the same time give exactly that time.

The thesis calls a video synchronised at a *level* when its dominant shot length
lies within 0.5-1.5 times that level's duration:

* ``"bar"``: ``dominant / bar`` in [0.5, 1.5] (95 of 548 videos);
* ``"beat"``: ``dominant / beat`` in [0.5, 1.5] (329 of 548);
* ``"4-bar"``: ``dominant / (4 bars)`` in [0.5, 1.5] (2 of 548);
* ``"none"`` otherwise.

The levels are tested in this order, the thesis' order. For 4 beats to the bar the
three ranges are disjoint (0.5-1.5, 2-6 and 8-24 beats) and the order does not
matter; in 3/4 the beat and bar ranges touch at 1.5 beats, which counts as bar;
in 2/4 they overlap (1-1.5 beats), which counts as bar. Shots of exactly two bars lie
on the lower edge of the 4-bar range (ratio 0.5) and count as 4-bar; the edges are
inclusive (to 1e-9, so that float rounding of a grid does not decide the level).

For ranking, :func:`shot_tempo` also gives a continuous agreement: the distance in
octaves from the dominant shot length to the nearest of one beat, one bar, two bars
and four bars, ``d = min_u |log2(dominant / u)|``, and ``agreement = max(0, 1 - d)``
(1 when the dominant shot lasts exactly one of those units, 0 when it is an octave or
more from all of them). With 4 beats to the bar the units lie at 0, 2, 3 and 4
octaves above the beat, so between one beat and four bars the agreement is lowest
(0) for shots of two beats, midway between beat and bar.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml.sync._checks import check_positive, check_times

__all__ = [
    "DEFAULT_BANDWIDTH_OCT",
    "LEVELS",
    "LEVEL_RANGE",
    "ShotTempo",
    "dominant_shot_length",
    "median_period",
    "shot_durations",
    "shot_tempo",
    "sync_level",
]

#: Synchronisation levels, in the order they are tested.
LEVELS: tuple[str, ...] = ("bar", "beat", "4-bar")
#: A dominant shot length within this range of a level's duration is at that level.
LEVEL_RANGE: tuple[float, float] = (0.5, 1.5)
#: Bandwidth of the kernel density over log2 durations (octaves).
DEFAULT_BANDWIDTH_OCT = 0.2
#: Units the continuous agreement measures against, in beats and bars.
_UNITS = ("beat", "bar", "2-bar", "4-bar")
_EDGE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class ShotTempo:
    """A video's dominant shot length against a piece's beat and bar.

    Attributes
    ----------
    dominant_s : float
        The dominant shot length in seconds.
    beat_s, bar_s : float
        Beat and bar lengths in seconds.
    beat_ratio, bar_ratio : float
        ``dominant_s / beat_s`` and ``dominant_s / bar_s``.
    level : str
        ``"bar"``, ``"beat"``, ``"4-bar"`` or ``"none"`` (see the module docstring).
    nearest_unit : str
        The unit nearest in octaves: ``"beat"``, ``"bar"``, ``"2-bar"`` or ``"4-bar"``.
    log2_distance : float
        ``|log2(dominant_s / unit)|`` to that unit, >= 0 (lower is better).
    agreement : float
        ``max(0, 1 - log2_distance)`` in [0, 1] (higher is better).
    """

    dominant_s: float
    beat_s: float
    bar_s: float
    beat_ratio: float
    bar_ratio: float
    level: str
    nearest_unit: str
    log2_distance: float
    agreement: float


def shot_durations(boundaries_s: np.ndarray) -> np.ndarray:
    """Durations of the shots between successive boundaries.

    Parameters
    ----------
    boundaries_s : np.ndarray
        ``(n_shots + 1,)`` strictly increasing shot boundaries in seconds, including
        the start and the end of the video (as :attr:`ml.media.shots.VideoShots.boundaries_s`).

    Returns
    -------
    np.ndarray
        ``(n_shots,)`` float64 durations in seconds, all > 0.

    Raises
    ------
    ValueError
        Fewer than two boundaries, or boundaries not strictly increasing.
    """
    b = check_times(boundaries_s, "boundaries_s")
    if b.size < 2:
        raise ValueError("boundaries_s needs at least two boundaries (start and end)")
    durations = np.diff(b)
    if np.any(durations <= 0):
        raise ValueError("boundaries_s must be strictly increasing")
    return durations


def dominant_shot_length(
    durations_s: np.ndarray, *, bandwidth_oct: float = DEFAULT_BANDWIDTH_OCT
) -> float:
    """The peak of the distribution of shot durations.

    The density is ``sum_k exp(-(x - log2 d_k)^2 / (2 h^2))`` over ``x = log2``
    duration, with ``h = bandwidth_oct``; it is evaluated on a grid of ``h / 20``
    octave and the highest grid point refined by a parabola through its neighbours.
    Each shot counts once (a histogram of shots, not of screen time).

    Parameters
    ----------
    durations_s : np.ndarray
        ``(n_shots,)`` shot durations in seconds, finite and > 0, any order.
    bandwidth_oct : float
        Kernel standard deviation in octaves, > 0.

    Returns
    -------
    float
        The dominant shot length in seconds.

    Raises
    ------
    ValueError
        No duration, a duration that is not finite and positive, or a bad bandwidth.
    """
    h = check_positive(bandwidth_oct, "bandwidth_oct")
    d = np.asarray(durations_s, dtype=np.float64)
    if d.ndim != 1 or d.size == 0:
        raise ValueError(f"durations_s must be a non-empty 1-D array, got shape {d.shape}")
    if not np.all(np.isfinite(d)) or d.min() <= 0:
        raise ValueError("durations_s must be finite and > 0")
    x = np.log2(d)
    step = h / 20.0
    grid = np.arange(x.min() - 3 * h, x.max() + 3 * h + step, step)
    density = np.zeros(grid.size)
    for start in range(0, x.size, 256):  # (grid x shots) in blocks: bounded memory
        diff = grid[:, None] - x[None, start : start + 256]
        density += np.exp(-0.5 * (diff / h) ** 2).sum(axis=1)
    k = int(np.argmax(density))
    peak = grid[k]
    if 0 < k < grid.size - 1:
        left, mid, right = density[k - 1 : k + 2]
        curvature = left - 2 * mid + right
        if curvature < 0:
            peak += 0.5 * step * (left - right) / curvature
    return float(2.0**peak)


def median_period(times_s: np.ndarray) -> float:
    """The median interval between successive times (a beat or bar length), seconds.

    Parameters
    ----------
    times_s : np.ndarray
        ``(n,)`` sorted, finite, non-negative times in seconds (beats or downbeats).

    Returns
    -------
    float
        The median of ``diff(times_s)``; NaN with fewer than two times.

    Raises
    ------
    ValueError
        Bad times.
    """
    times = check_times(times_s, "times_s")
    if times.size < 2:
        return float("nan")
    return float(np.median(np.diff(times)))


def sync_level(dominant_s: float, beat_s: float, bar_s: float) -> str:
    """The thesis' synchronisation level of a dominant shot length.

    Parameters
    ----------
    dominant_s, beat_s, bar_s : float
        Dominant shot length, beat and bar lengths in seconds, finite and > 0.

    Returns
    -------
    str
        The first of :data:`LEVELS` whose duration is within :data:`LEVEL_RANGE`
        of ``dominant_s`` (bar ``bar_s``, beat ``beat_s``, 4-bar ``4 bar_s``), or
        ``"none"``.

    Raises
    ------
    ValueError
        A length that is not finite and positive.
    """
    dominant_s = check_positive(dominant_s, "dominant_s")
    beat_s = check_positive(beat_s, "beat_s")
    bar_s = check_positive(bar_s, "bar_s")
    lo, hi = LEVEL_RANGE
    for level, unit in zip(LEVELS, (bar_s, beat_s, 4.0 * bar_s)):
        ratio = dominant_s / unit
        if lo * (1 - _EDGE_TOLERANCE) <= ratio <= hi * (1 + _EDGE_TOLERANCE):
            return level
    return "none"


def shot_tempo(dominant_s: float, beat_s: float, bar_s: float) -> ShotTempo:
    """The level and the continuous agreement of a dominant shot length.

    Parameters
    ----------
    dominant_s, beat_s, bar_s : float
        Dominant shot length (:func:`dominant_shot_length`), beat and bar lengths
        (e.g. :func:`median_period` of beats and downbeats) in seconds, finite, > 0.

    Raises
    ------
    ValueError
        A length that is not finite and positive.
    """
    level = sync_level(dominant_s, beat_s, bar_s)
    dominant_s, beat_s, bar_s = float(dominant_s), float(beat_s), float(bar_s)
    units = np.array([beat_s, bar_s, 2.0 * bar_s, 4.0 * bar_s])
    distances = np.abs(np.log2(dominant_s / units))
    k = int(np.argmin(distances))
    distance = float(distances[k])
    return ShotTempo(
        dominant_s=dominant_s,
        beat_s=beat_s,
        bar_s=bar_s,
        beat_ratio=dominant_s / beat_s,
        bar_ratio=dominant_s / bar_s,
        level=level,
        nearest_unit=_UNITS[k],
        log2_distance=distance,
        agreement=max(0.0, 1.0 - distance),
    )
