"""The explanation picture: a PNG of the right size, and clear errors on bad input."""

from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib.image import imread

from ml.edit.explain import explain_png


def _inputs():
    sims = np.array([[0.9, 0.1], [0.2, 0.8], [0.0, -0.3]])
    return (
        sims,
        np.array([[0, 0], [1, 1]]),
        np.array([0.0, 8.0, 16.0, 30.0]),
        np.array([0.0, 3.0, 7.5]),
    )


def test_the_picture_is_a_png_of_two_panels() -> None:
    sims, pairs, tb, qb = _inputs()
    png = explain_png(sims, pairs, tb, qb, np.array([3.0]), np.arange(0, 30, 2.0), 1.0)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    image = imread(io.BytesIO(png))
    assert image.shape[:2] == (600, 800)
    assert image[..., :3].std() > 0.05  # drawn, not blank
    # No pair (an empty alignment) still draws.
    assert explain_png(sims, np.zeros((0, 2)), tb, qb, np.array([]), np.array([]), 0.0)


def test_bad_shapes_are_refused() -> None:
    sims, pairs, tb, qb = _inputs()
    with pytest.raises(ValueError, match="does not match"):
        explain_png(sims[:2], pairs, tb, qb, np.array([]), np.array([]), 0.0)
    with pytest.raises(ValueError, match="outside"):
        explain_png(sims, np.array([[3, 0]]), tb, qb, np.array([]), np.array([]), 0.0)
