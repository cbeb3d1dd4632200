"""Input validation shared by the synchronisation measures.

Every public function of :mod:`ml.sync` validates its input here first, then
computes; the errors are :class:`ValueError` with a message that names the argument.
"""

from __future__ import annotations

import numpy as np

__all__ = ["check_likelihood", "check_positive", "check_times"]


def check_times(times_s: object, name: str) -> np.ndarray:
    """``times_s`` as a 1-D float64 array of finite, non-negative, non-decreasing seconds.

    Raises
    ------
    ValueError
        Not 1-D, not numeric, or a value is NaN, infinite, negative or smaller than
        the one before it.
    """
    try:
        times = np.asarray(times_s, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a 1-D array of times in seconds") from err
    if times.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of times in seconds, got shape {times.shape}")
    if not np.all(np.isfinite(times)):
        raise ValueError(f"{name} contains non-finite values")
    if times.size and times.min() < 0:
        raise ValueError(f"{name} contains negative times (min {times.min():g} s)")
    if times.size > 1 and np.any(np.diff(times) < 0):
        k = int(np.argmax(np.diff(times) < 0))
        raise ValueError(
            f"{name} must be sorted in increasing order "
            f"({times[k]:g} s comes before {times[k + 1]:g} s)"
        )
    return times


def check_positive(value: object, name: str) -> float:
    """``value`` as a finite float > 0.

    Raises
    ------
    TypeError
        Not a real number.
    ValueError
        Not finite and positive.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a positive number, got {value!r}")
    value = float(value)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite positive number, got {value!r}")
    return value


def check_likelihood(f_shot: object, name: str = "f_shot") -> np.ndarray:
    """A per-frame cut likelihood as a 1-D float64 array of finite, non-negative values.

    Raises
    ------
    ValueError
        Not 1-D, empty, or a value is NaN, infinite or negative.
    """
    try:
        f = np.asarray(f_shot, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a 1-D array of per-frame cut likelihoods") from err
    if f.ndim != 1 or f.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {f.shape}")
    if not np.all(np.isfinite(f)):
        raise ValueError(f"{name} contains non-finite values")
    if f.min() < 0:
        raise ValueError(f"{name} contains negative values (min {f.min():g})")
    return f
