"""The cascade: a cheap first pass, then TransNetV2 on candidate windows only.

On a generated edited video (hard cuts, dissolves, fades through black), the
cascade must give the full pass's cuts: identical at hard cuts, F1 >= 0.98 within
2 frames overall, and on every window it evaluates, the full pass's probabilities.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.bench_shots import boundary_agreement, near
from ml.media.shot_candidates import (
    candidate_frames,
    colour_histograms,
    histogram_distances,
    shrink,
    widen,
)
from ml.media.shot_network import KEPT_FRAMES
from ml.media.shots import (
    ShotDetector,
    network_windows,
    window_count,
    window_frames,
)

ROUNDING = {"rtol": 1e-6, "atol": 1e-9}


def test_cascade_gives_the_full_pass_cuts_at_hard_cuts(edited_video, edited_full, edited_cascade):
    cuts = edited_video.frames_of("cut")
    assert len(cuts) >= 3
    at_cuts = near(edited_full.boundaries, cuts)
    assert len(at_cuts) >= len(cuts) - 1  # the network finds the generated cuts
    np.testing.assert_array_equal(near(edited_cascade.boundaries, cuts), at_cuts)


def test_cascade_agrees_with_the_full_pass_overall(edited_full, edited_cascade):
    recall, f1 = boundary_agreement(edited_cascade.boundaries, edited_full.boundaries, 2)
    assert f1 >= 0.98 and recall >= 0.98, (edited_cascade.boundaries, edited_full.boundaries)


def test_gradual_transitions_are_found_by_both(edited_video, edited_full, edited_cascade):
    gradual = [i for i, k in enumerate(edited_video.kinds) if k in ("dissolve", "fade")]
    assert len(gradual) >= 2
    for result in (edited_full, edited_cascade):
        b = result.boundaries
        inside = [
            np.any((b >= edited_video.first[i]) & (b <= edited_video.last[i] + 2)) for i in gradual
        ]
        assert sum(inside) >= len(gradual) - 1, (b, edited_video.first, edited_video.last)


def test_evaluated_windows_give_the_full_pass_probabilities(edited_full, edited_cascade):
    evaluated = edited_cascade.evaluated
    n = len(evaluated)
    assert edited_full.evaluated.all() and 0 < evaluated.sum() < n
    # Whole windows of the full pass's grid, nothing in between.
    padded = np.concatenate([evaluated, np.repeat(evaluated[-1:], -n % KEPT_FRAMES)])
    blocks = padded.reshape(-1, KEPT_FRAMES)
    assert np.all(blocks.all(axis=1) | ~blocks.any(axis=1))
    # The same function of the same frames, to float32 rounding (oneDNN may order a
    # reduction differently between calls: at most a unit in the last place).
    np.testing.assert_allclose(
        edited_cascade.probabilities[evaluated], edited_full.probabilities[evaluated], **ROUNDING
    )
    assert np.all(edited_cascade.probabilities[~evaluated] == 0)
    # The full pass saw no transition where the cascade did not look.
    assert np.all(edited_full.probabilities[~evaluated] < 0.5 * edited_full.threshold)


def test_cascade_skips_windows_without_candidates(edited_cascade):
    assert edited_cascade.evaluated_share < 0.9


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_one_window_gives_the_full_pass_probabilities(where, edited_frames, edited_full):
    """A window alone reads the same 100 frames (padding included) as in the full pass."""
    n = len(edited_frames)
    k = {"first": 0, "middle": window_count(n) // 2, "last": window_count(n) - 1}[where]
    alone = ShotDetector(device="cpu").window_probabilities(edited_frames, [k])
    kept = window_frames(k, n)
    np.testing.assert_allclose(alone[kept], edited_full.probabilities[kept], **ROUNDING)
    outside = np.ones(n, bool)
    outside[kept] = False
    assert np.all(np.isnan(alone[outside]))


def test_window_grid():
    assert window_count(1) == 1 and window_count(50) == 1 and window_count(51) == 2
    assert window_frames(2, 120) == slice(100, 120)
    mask = np.zeros(230, bool)
    mask[[49, 50, 199]] = True
    np.testing.assert_array_equal(network_windows(mask), [0, 1, 3])
    with pytest.raises(ValueError):
        window_frames(3, 120)
    with pytest.raises(ValueError):
        ShotDetector(device="cpu").window_probabilities(np.zeros((60, 27, 48, 3), np.uint8), [2])


def test_a_transition_at_a_window_edge_pulls_in_the_neighbour():
    from ml.media.shots import _edge_neighbours

    p = np.zeros(230, np.float32)  # five windows; 1 and 3 evaluated
    done = np.array([False, True, False, True, False])
    p[50] = 0.9  # a transition reaching window 1's first frame: window 0 too
    p[99] = 0.1  # low at window 1's last frame: window 2 is left alone
    p[199] = 0.3  # window 3's last frame above the level: window 4 too
    np.testing.assert_array_equal(_edge_neighbours(p, done, 0.2), [0, 4])
    done[:] = True
    assert len(_edge_neighbours(p, done, 0.2)) == 0


def test_features_need_every_window(cut_video, cpu_detector):
    from ml.media.decode import load_video_frames

    frames = load_video_frames(cut_video.path, None, 48, 27)[:120]
    result = cpu_detector.detect(frames, return_features=True)
    assert result.evaluated.all() and result.embeddings.shape == (120, 1024)


def test_bad_mode_raises():
    with pytest.raises(ValueError, match="mode"):
        ShotDetector(device="cpu", mode="fast")


# The first pass alone, on frames made here.


def _grating(period: int, colour: np.ndarray) -> np.ndarray:
    """A (27, 96, 3) diagonal grating of ``period`` pixels (dividing 48), tinted by ``colour``."""
    yy, xx = np.mgrid[0:27, 0:96]
    pattern = 0.5 + 0.5 * np.sin(2 * np.pi * (xx + 0.5 * yy) / period)
    return (0.3 + 0.7 * pattern)[..., None] * colour


def _panning(texture: np.ndarray, n: int, speed: int = 1) -> np.ndarray:
    """``n`` 48-pixel-wide frames panning across ``texture``, uint8."""
    return np.stack([np.roll(texture, -speed * t, axis=1)[:, :48] for t in range(n)]).astype(
        np.uint8
    )


@pytest.fixture
def two_shots() -> tuple[np.ndarray, np.ndarray]:
    a = _panning(_grating(12, np.array([220.0, 90.0, 40.0])), 120)
    b = _panning(_grating(16, np.array([40.0, 120.0, 230.0])), 120, speed=2)
    return a, b


def test_panning_shot_has_no_candidates(two_shots):
    for shot in two_shots:
        candidates = candidate_frames(shot)
        assert not candidates.mask.any()
        assert candidates.share == 0.0


def test_pan_revealing_new_colours_is_a_stretch_to_check():
    """Slow motion that drifts the colours cannot be ruled out: flagged, not as a cut."""
    rng = np.random.default_rng(0)
    cells = rng.random((4, 40))  # coarse blobs of varied brightness, 8 pixels wide
    texture = (0.2 + 0.8 * np.kron(cells, np.ones((7, 8)))[:27, :, None]) * [200.0, 150.0, 90.0]
    frames = _panning(texture, 200)
    candidates = candidate_frames(frames)
    assert not candidates.abrupt.any()
    assert candidates.gradual.mean() > 0.5


def test_hard_cut_is_flagged_on_both_sides(two_shots):
    a, b = two_shots
    candidates = candidate_frames(np.concatenate([a[:60], b[:60]]))
    np.testing.assert_array_equal(np.flatnonzero(candidates.abrupt), [59, 60])
    np.testing.assert_array_equal(np.flatnonzero(candidates.mask), np.arange(55, 65))
    assert not candidates.gradual.any()  # one step explains the whole change


@pytest.mark.parametrize("length", [10, 30, 60])
def test_dissolve_is_flagged_whole(two_shots, length):
    a, b = two_shots
    alpha = ((np.arange(length) + 0.5) / length)[:, None, None, None]
    mix = ((1 - alpha) * a[40 : 40 + length] + alpha * b[:length] + 0.5).astype(np.uint8)
    frames = np.concatenate([a[:40], mix, b[length : length + 40]])
    candidates = candidate_frames(frames)
    assert candidates.mask[40 : 40 + length].all()
    assert not candidates.mask[:25].any() and not candidates.mask[-20:].any()
    if length >= 30:  # seen by the windowed difference, which a hard cut leaves alone
        assert candidates.gradual[40 + length // 2]


def test_flash_and_dark_stretch_are_flagged(two_shots):
    a = two_shots[0][:100].copy()
    a[30] = np.clip(a[30].astype(int) + 60, 0, 255)  # a flash
    a[70:80] = 3  # nearly black, flat
    candidates = candidate_frames(a)
    assert candidates.abrupt[30] and candidates.abrupt[31]
    assert candidates.low_contrast[70:80].all() and not candidates.low_contrast[:70].any()
    assert not candidates.mask[:20].any()


def test_histogram_distances_are_fractions_of_pixels():
    frames = np.zeros((3, 27, 48, 3), np.uint8)
    frames[1, :, :24] = 255  # half the pixels move to the white bin
    frames[2] = 255
    h = colour_histograms(frames)
    assert h.shape == (3, 512) and np.allclose(h.sum(axis=1), 1)
    np.testing.assert_allclose(histogram_distances(h, 1), [0, 0.5, 0.5])
    np.testing.assert_allclose(histogram_distances(h, 2), [0, 0, 1])


def test_shrink():
    mask = np.array([1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 1], bool)
    np.testing.assert_array_equal(shrink(mask, 1), [1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 1])


def test_widen():
    mask = np.zeros(10, bool)
    mask[[0, 6]] = True
    np.testing.assert_array_equal(np.flatnonzero(widen(mask, 2, 1)), [0, 1, 4, 5, 6, 7])
    with pytest.raises(ValueError):
        widen(mask, -1, 0)


@pytest.mark.parametrize(
    "frames, kwargs, error",
    [
        (np.zeros((5, 27, 48, 3), np.float32), {}, TypeError),
        (np.zeros((5, 27, 48), np.uint8), {}, ValueError),
        (np.zeros((5, 27, 48, 3), np.uint8), {"half_spans": (0,)}, ValueError),
        (np.zeros((5, 27, 48, 3), np.uint8), {"cut_level": 2.0}, ValueError),
        (np.zeros((5, 27, 48, 3), np.uint8), {"spike_ratio": 0.5}, ValueError),
        (np.zeros((5, 27, 48, 3), np.uint8), {"margin": -1}, ValueError),
    ],
)
def test_bad_first_pass_input_raises(frames, kwargs, error):
    with pytest.raises(error):
        candidate_frames(frames, **kwargs)


def test_auto_mode_is_the_cascade_on_a_cpu_and_the_full_pass_on_a_gpu():
    import torch

    from ml.media.shots import resolve_mode

    assert resolve_mode("auto", torch.device("cpu")) == "cascade"
    assert resolve_mode("auto", torch.device("cuda")) == "full"
    assert resolve_mode("full", torch.device("cpu")) == "full"
    assert resolve_mode("cascade", torch.device("cuda")) == "cascade"
    assert ShotDetector(device="cpu").mode == "cascade"
    with pytest.raises(ValueError, match="mode"):
        resolve_mode("fast", torch.device("cpu"))
