"""Picture primitives: coloured, textured shots with motion, and hard cuts.

A shot is a periodic texture in a two-colour palette that scrolls at a
constant velocity, with a few discs or squares bouncing over it and pulsing
on the beat. Frames are ``uint8`` RGB arrays of shape ``(N, height, width, 3)``.
All randomness comes from a ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ml.synth.errors import SynthSpecError
from ml.synth.style import TEXTURES


def hsv_to_rgb(hue: float, saturation: float, value: float) -> np.ndarray:
    """HSV (each in [0, 1], hue wraps) to an RGB float vector in [0, 1]."""
    return np.asarray(
        colorsys.hsv_to_rgb(
            hue % 1.0, float(np.clip(saturation, 0, 1)), float(np.clip(value, 0, 1))
        )
    )


def texture(
    kind: str, width: int, height: int, cycles: int, rng: np.random.Generator
) -> np.ndarray:
    """A texture in [-1, 1] of shape ``(height, width)``, periodic on the frame.

    ``kind`` is one of :data:`ml.synth.style.TEXTURES`; ``cycles`` is its
    spatial frequency in periods across the width. Periodicity lets a shot
    scroll the texture with :func:`numpy.roll` and no seams.
    """
    if kind not in TEXTURES:
        raise SynthSpecError(f"unknown texture {kind!r}; expected one of {TEXTURES}")
    if cycles < 1:
        raise SynthSpecError(f"texture needs at least one cycle, got {cycles}")
    x = np.arange(width)[None, :] / width
    y = np.arange(height)[:, None] / height
    phase = rng.uniform(0, 2 * np.pi)
    if kind == "stripes":
        angle = rng.uniform(0, np.pi)
        fx = round(cycles * np.cos(angle))
        fy = round(cycles * np.sin(angle) * height / width)
        if fx == 0 and fy == 0:
            fx = cycles
        return np.sin(2 * np.pi * (fx * x + fy * y) + phase).astype(np.float32)
    if kind == "checker":
        fy = max(1, round(cycles * height / width))
        cells = np.sin(2 * np.pi * cycles * x + phase) * np.sin(2 * np.pi * fy * y)
        return np.tanh(4.0 * cells).astype(np.float32) / np.float32(np.tanh(4.0))
    # Blobs: white noise low-passed in the Fourier domain (periodic by construction).
    fy = np.fft.fftfreq(height)[:, None] * height
    fx = np.fft.rfftfreq(width)[None, :] * width
    gain = np.exp(-(fx**2 + (fy * width / height) ** 2) / (2.0 * cycles**2))
    field = np.fft.irfft2(
        np.fft.rfft2(rng.standard_normal((height, width))) * gain, s=(height, width)
    )
    return (field / (np.abs(field).max() + 1e-9)).astype(np.float32)


@dataclass(frozen=True)
class ShotLook:
    """The visual parameters of one shot (see :class:`ml.synth.style.SectionStyle`)."""

    hue: float
    saturation: float = 0.6
    value: float = 0.6
    texture: str = "stripes"
    texture_cycles: int = 3
    texture_contrast: float = 0.4
    motion_px_s: float = 20.0
    n_objects: int = 2
    pulse: float = 0.2


@lru_cache(maxsize=64)
def _disc(radius: int) -> np.ndarray:
    yy, xx = np.ogrid[-radius : radius + 1, -radius : radius + 1]
    return (xx * xx + yy * yy) <= radius * radius


def _bounce(p0: float, v: float, t: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Positions of a point moving at speed ``v`` reflected inside [lo, hi]."""
    span = max(hi - lo, 1e-6)
    q = np.mod(p0 - lo + v * t, 2 * span)
    return lo + np.where(q < span, q, 2 * span - q)


def render_shot(
    look: ShotLook,
    n_frames: int,
    fps: float,
    width: int,
    height: int,
    rng: np.random.Generator,
    *,
    beats_s: np.ndarray | None = None,
) -> np.ndarray:
    """Render one shot of ``n_frames`` frames.

    The background texture scrolls at ``look.motion_px_s`` in a random
    direction; ``look.n_objects`` discs or squares in the complementary hue
    bounce at about the same speed and swell on every time of ``beats_s``
    (seconds from the shot's first frame) by ``look.pulse`` of their radius.
    """
    if n_frames < 1:
        raise SynthSpecError(f"a shot needs at least one frame, got {n_frames}")
    tex = texture(look.texture, width, height, look.texture_cycles, rng)
    c1 = hsv_to_rgb(look.hue, look.saturation, look.value)
    c2 = hsv_to_rgb(
        look.hue + 0.07, 0.9 * look.saturation, look.value * (1.0 - look.texture_contrast)
    )
    mix = (tex[..., None] + 1.0) / 2.0
    tile = np.round(255.0 * (c1 + (c2 - c1) * mix)).astype(np.uint8)
    # A 2x2 mosaic of the periodic tile: any scrolled frame is one slice of it.
    mosaic = np.tile(tile, (2, 2, 1))

    t = np.arange(n_frames) / fps
    angle = rng.uniform(0, 2 * np.pi)
    ox = np.round(-look.motion_px_s * np.cos(angle) * t).astype(int) % width
    oy = np.round(-look.motion_px_s * np.sin(angle) * t).astype(int) % height

    if beats_s is not None and len(beats_s):
        beats = np.sort(np.asarray(beats_s, dtype=float))
        idx = np.searchsorted(beats, t + 1e-9) - 1
        since = np.where(idx >= 0, t - beats[np.maximum(idx, 0)], np.inf)
        swell = 1.0 + look.pulse * np.exp(-since / 0.1)
    else:
        swell = np.ones(n_frames)

    object_colour = np.round(
        255.0 * hsv_to_rgb(look.hue + 0.5, 0.8, min(1.0, look.value + 0.3))
    ).astype(np.uint8)
    objects = []
    for _ in range(look.n_objects):
        radius = int(rng.integers(4, 11))
        speed = look.motion_px_s * rng.uniform(0.7, 1.3)
        heading = rng.uniform(0, 2 * np.pi)
        xs = _bounce(rng.uniform(0, width), speed * np.cos(heading), t, radius, width - radius)
        ys = _bounce(rng.uniform(0, height), speed * np.sin(heading), t, radius, height - radius)
        radii = np.maximum(1, np.round(radius * swell)).astype(int)
        square = bool(rng.random() < 0.5)
        objects.append(
            (
                square,
                radii.tolist(),
                np.round(xs).astype(int).tolist(),
                np.round(ys).astype(int).tolist(),
            )
        )

    frames = np.empty((n_frames, height, width, 3), np.uint8)
    for i in range(n_frames):
        frames[i] = mosaic[oy[i] : oy[i] + height, ox[i] : ox[i] + width]
        for square, radii, xs, ys in objects:
            r, cx, cy = radii[i], xs[i], ys[i]
            x0, x1 = max(cx - r, 0), min(cx + r + 1, width)
            y0, y1 = max(cy - r, 0), min(cy + r + 1, height)
            if x0 >= x1 or y0 >= y1:
                continue
            patch = frames[i, y0:y1, x0:x1]
            if square:
                patch[...] = object_colour
            else:
                mask = _disc(r)[y0 - cy + r : y1 - cy + r, x0 - cx + r : x1 - cx + r]
                patch[mask] = object_colour
    return frames


def frame_index(time_s: float, fps: float) -> int:
    """The frame shown at ``time_s``: a cut at time t starts at this frame."""
    return round(time_s * fps)


def shots_video(
    durations_s: list[float],
    looks: list[ShotLook],
    fps: float = 25.0,
    width: int = 192,
    height: int = 108,
    *,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive shots with hard cuts between them.

    Shot k lasts ``durations_s[k]`` (cuts are rounded to the nearest frame)
    and looks like ``looks[k]``. Returns ``(frames, cut_frames)`` where
    ``cut_frames`` holds the first frame of every shot plus the frame count.
    """
    if len(durations_s) != len(looks) or not looks:
        raise SynthSpecError("durations_s and looks need equal, non-zero lengths")
    check_frame_size(width, height)
    rng = np.random.default_rng(seed)
    cuts = np.asarray(
        [frame_index(t, fps) for t in np.concatenate([[0.0], np.cumsum(durations_s)])]
    )
    if np.any(np.diff(cuts) < 1):
        raise SynthSpecError("every shot must last at least one frame")
    frames = np.concatenate(
        [
            render_shot(look, int(b - a), fps, width, height, rng)
            for look, a, b in zip(looks, cuts[:-1], cuts[1:])
        ]
    )
    return frames, cuts


def check_frame_size(width: int, height: int) -> None:
    """Raise :class:`SynthSpecError` unless H.264 4:2:0 can encode the size."""
    if width < 16 or height < 16 or width % 2 or height % 2:
        raise SynthSpecError(f"frame size must be even and at least 16x16, got {width}x{height}")
