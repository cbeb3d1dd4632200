"""The shared latent style and its two decoders (music, picture).

Every clip draws a point in a small latent space whose axes have names:

``energy``      arousal: tempo, loudness, drums / motion speed, cut rate, pulsing
``valence``     mood: major vs minor / warm vs cold hue, brightness
``brightness``  timbral brightness: harmonic roll-off, instrument / texture
                spatial frequency, hue shift
``density``     rhythmic density: notes per beat, hi-hats / number of objects,
                texture contrast
``acoustic``    acoustic vs synthetic sound: instrument family / organic vs
                geometric textures

Each section of a clip moves away from the clip's point (sections with the
same label share one point, so repeated sections look and sound alike). The
music and the picture of a section are two *independent noisy decoders* of
that one point: :func:`music_from_latent` and :func:`picture_from_latent`.
Nothing else links the two modalities, so the only thing a model can learn
about their correspondence is this latent -- which is the point of the
corpus. The decoders are written by hand from musical and visual common sense
(fast music, fast motion; minor keys, cold colours) and were not fitted to any
ranking cost.

Nuisance factors that carry no information across modalities are drawn per
clip: the key, the colour grading (a hue offset), object shapes and paths.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

LATENT_FACTORS: tuple[str, ...] = ("energy", "valence", "brightness", "density", "acoustic")
"""Names of the latent axes, in the order of the latent vectors."""

GENRE_PROTOTYPES: dict[str, tuple[float, float, float, float, float]] = {
    # energy, valence, brightness, density, acoustic
    "electronic": (0.6, 0.3, 0.6, 0.7, -0.8),
    "rock": (0.7, 0.0, 0.3, 0.4, -0.1),
    "ambient": (-0.8, 0.2, -0.3, -0.7, -0.3),
    "hiphop": (0.2, -0.2, -0.3, 0.3, -0.5),
    "classical": (-0.3, 0.1, -0.1, 0.0, 0.9),
    "folk": (-0.2, 0.5, 0.0, -0.2, 0.7),
    "metal": (0.9, -0.7, 0.7, 0.8, -0.2),
    "pop": (0.4, 0.7, 0.4, 0.2, 0.0),
}
"""Genre clusters of the clip-level latent (the genre becomes a tag)."""

INSTRUMENT_PROTOTYPES: dict[str, tuple[float, float]] = {
    # (brightness, acoustic): where in the latent each instrument is likely
    "piano": (0.0, 0.8),
    "strings": (-0.4, 0.6),
    "pluck": (0.3, 0.5),
    "organ": (-0.2, 0.0),
    "bell": (0.8, 0.3),
    "saw_synth": (0.7, -0.8),
    "square_lead": (0.3, -0.5),
    "sine_pad": (-0.8, -0.4),
}
"""Lead/chord instruments and their location on (brightness, acoustic)."""

DRUM_PATTERNS: tuple[str, ...] = (
    "none",
    "half_time",
    "backbeat",
    "four_on_floor",
    "breakbeat",
    "waltz",
)
"""Drum grooves, from sparse to busy; ``waltz`` is the only one in 3/4."""

TEXTURES: tuple[str, ...] = ("blobs", "stripes", "checker")
"""Background textures: organic (blobs) or geometric (stripes, checker)."""

MAJOR_PROGRESSIONS: tuple[tuple[int, ...], ...] = (
    (0, 4, 5, 3),
    (0, 3, 4, 4),
    (0, 5, 3, 4),
    (0, 3, 0, 4),
)
MINOR_PROGRESSIONS: tuple[tuple[int, ...], ...] = (
    (0, 5, 2, 6),
    (0, 3, 4, 4),
    (0, 6, 5, 6),
    (0, 3, 6, 2),
)
"""Chord progressions as scale degrees (0 = tonic), one chord per bar."""


TAG_CATEGORIES: dict[str, tuple[str, ...]] = {
    "genre": tuple(GENRE_PROTOTYPES),
    "mood": ("happy", "sad", "energetic", "calm"),
    "texture": ("busy", "sparse", "acoustic", "synthetic"),
    "tempo": ("slow", "mid-tempo", "fast"),
    "mode": ("major", "minor"),
    "meter": ("waltz",),
    "instrument": (*INSTRUMENT_PROTOTYPES, "drums"),
}
"""Every tag :func:`style_tags` can emit, by category (for tag weights or
expansion in a tag-based similarity)."""


@dataclass(frozen=True)
class ClipStyle:
    """Clip-level draw: genre, latent point and the clip-wide nuisances."""

    genre: str
    latent: tuple[float, ...]
    tempo_bpm: float
    beats_per_bar: int
    key_root: int
    """Pitch class of the tonic (0 = C); a nuisance, unrelated to the picture."""
    grade_hue: float
    """Colour-grading hue offset; a nuisance, unrelated to the music."""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SectionStyle:
    """Everything that renders one section: its music and its picture."""

    label: str
    latent: tuple[float, ...]
    # music
    tempo_bpm: float
    key_root: int
    mode: str
    progression: tuple[int, ...]
    instrument: str
    rolloff: float
    steps_per_beat: int
    loudness_db: float
    drum_pattern: str
    # picture
    hue: float
    saturation: float
    value: float
    motion_px_s: float
    texture: str
    texture_cycles: int
    texture_contrast: float
    n_objects: int
    pulse: float
    bars_per_shot: int

    def to_dict(self) -> dict:
        return asdict(self)


def _clip(x: np.ndarray | float, lo: float = -1.0, hi: float = 1.0) -> np.ndarray:
    return np.clip(x, lo, hi)


def sample_clip_style(rng: np.random.Generator, *, spread: float = 0.35) -> ClipStyle:
    """Draw a clip: a genre, a latent point around its prototype, nuisances.

    ``spread`` is the standard deviation of the clip around its genre
    prototype: the larger it is, the more genres overlap.
    """
    genre = str(rng.choice(list(GENRE_PROTOTYPES)))
    latent = _clip(
        np.asarray(GENRE_PROTOTYPES[genre]) + rng.normal(0.0, spread, len(LATENT_FACTORS))
    )
    energy, acoustic = latent[0], latent[4]
    tempo = float(np.round(100.0 * 2.0 ** (0.5 * energy + rng.normal(0.0, 0.12))))
    # Triple meter is more common in acoustic music (waltzes, folk ballads).
    beats_per_bar = 3 if rng.random() < 0.1 + 0.2 * max(float(acoustic), 0.0) else 4
    return ClipStyle(
        genre=genre,
        latent=tuple(float(v) for v in latent),
        tempo_bpm=tempo,
        beats_per_bar=beats_per_bar,
        key_root=int(rng.integers(12)),
        grade_hue=float(rng.normal(0.0, 0.08)),
    )


def _pick_instrument(
    rng: np.random.Generator, brightness: float, acoustic: float, noise: float
) -> str:
    names = list(INSTRUMENT_PROTOTYPES)
    protos = np.asarray([INSTRUMENT_PROTOTYPES[n] for n in names])
    d2 = ((protos - np.array([brightness, acoustic])) ** 2).sum(axis=1)
    # A soft choice: the nearest instrument is likeliest, not certain.
    temperature = 0.05 + 0.15 * noise
    logits = -d2 / temperature
    p = np.exp(logits - logits.max())
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def music_from_latent(
    u: np.ndarray, clip: ClipStyle, rng: np.random.Generator, *, noise: float = 1.0
) -> dict:
    """Decode a section latent into musical parameters (with its own noise).

    Returns the musical fields of :class:`SectionStyle`. ``noise`` scales every
    random perturbation (0 gives the noiseless mapping for the continuous
    parameters; discrete choices stay random but peaked).
    """
    energy, valence, brightness, density, acoustic = (float(v) for v in u)

    def n(scale: float) -> float:
        return rng.normal(0.0, scale * noise)

    clip_energy = clip.latent[0]
    # Sections drift around the clip tempo with their energy (a chorus pushes).
    tempo = float(np.round(clip.tempo_bpm * 2.0 ** (0.15 * (energy - clip_energy) + n(0.02))))
    mode = "major" if valence + n(0.25) > 0.0 else "minor"
    progressions = MAJOR_PROGRESSIONS if mode == "major" else MINOR_PROGRESSIONS
    transpose = int(rng.choice([0, 0, 0, 5, 7, 2]))
    steps = (1, 2, 4)[int(np.digitize(density + n(0.2), [-0.35, 0.35]))]
    drive = energy + 0.5 * density + n(0.25)
    if clip.beats_per_bar == 3:
        drums = "none" if drive < -0.6 else "waltz"
    elif drive < -0.6:
        drums = "none"
    elif drive < -0.1:
        drums = "half_time"
    elif drive < 0.5:
        drums = "four_on_floor" if acoustic + n(0.3) < -0.3 else "backbeat"
    else:
        drums = "breakbeat" if density + n(0.3) > 0.3 else "four_on_floor"
    return {
        "tempo_bpm": max(tempo, 40.0),
        "key_root": (clip.key_root + transpose) % 12,
        "mode": mode,
        "progression": tuple(int(d) for d in progressions[int(rng.integers(len(progressions)))]),
        "instrument": _pick_instrument(rng, brightness + n(0.15), acoustic + n(0.15), noise),
        "rolloff": float(np.clip(2.0 - 0.9 * brightness + n(0.15), 0.6, 3.5)),
        "steps_per_beat": steps,
        "loudness_db": float(np.clip(-16.0 + 5.0 * energy + n(1.5), -26.0, -8.0)),
        "drum_pattern": drums,
    }


def picture_from_latent(
    u: np.ndarray, clip: ClipStyle, rng: np.random.Generator, *, noise: float = 1.0
) -> dict:
    """Decode a section latent into picture parameters (with its own noise).

    Returns the visual fields of :class:`SectionStyle`. The noise is drawn
    independently of :func:`music_from_latent`'s.
    """
    energy, valence, brightness, density, acoustic = (float(v) for v in u)

    def n(scale: float) -> float:
        return rng.normal(0.0, scale * noise)

    # Warm hues (orange) for positive valence, cold (blue) for negative.
    hue = (0.58 - 0.25 * valence + 0.08 * brightness + clip.grade_hue + n(0.04)) % 1.0
    geometric = -acoustic + n(0.4)
    if geometric < -0.2:
        texture = "blobs"
    else:
        texture = "checker" if density + n(0.4) > 0.2 else "stripes"
    cut_drive = energy + n(0.3)
    bars_per_shot = 1 if cut_drive > 0.5 else 2 if cut_drive > -0.3 else 4
    return {
        "hue": float(hue),
        "saturation": float(np.clip(0.45 + 0.25 * energy + n(0.06), 0.15, 0.95)),
        "value": float(np.clip(0.55 + 0.22 * valence + 0.08 * energy + n(0.05), 0.15, 0.95)),
        "motion_px_s": float(18.0 * 2.0 ** (1.6 * energy + n(0.25))),
        "texture": texture,
        "texture_cycles": int(np.clip(np.round(3.0 * 2.0 ** (1.3 * brightness + n(0.25))), 1, 16)),
        "texture_contrast": float(np.clip(0.35 + 0.25 * density + n(0.06), 0.1, 0.8)),
        "n_objects": int(np.clip(np.round(3.0 + 3.0 * density + n(0.7)), 0, 8)),
        "pulse": float(np.clip(0.25 + 0.25 * energy + n(0.05), 0.0, 0.6)),
        "bars_per_shot": bars_per_shot,
    }


def sample_section_styles(
    rng: np.random.Generator,
    clip: ClipStyle,
    labels: list[str],
    *,
    section_spread: float = 0.45,
    noise: float = 1.0,
) -> list[SectionStyle]:
    """Style every section of a form; equal labels share one style.

    A label's latent is the clip latent plus an offset of standard deviation
    ``section_spread``; its music and picture are decoded once, so a repeated
    chorus is the same music under the same kind of picture.
    """
    by_label: dict[str, SectionStyle] = {}
    for label in labels:
        if label in by_label:
            continue
        u = _clip(np.asarray(clip.latent) + rng.normal(0.0, section_spread, len(LATENT_FACTORS)))
        by_label[label] = SectionStyle(
            label=label,
            latent=tuple(float(v) for v in u),
            **music_from_latent(u, clip, rng, noise=noise),
            **picture_from_latent(u, clip, rng, noise=noise),
        )
    return [by_label[label] for label in labels]


def style_tags(
    clip: ClipStyle, sections: list[SectionStyle], durations_s: list[float]
) -> dict[str, float]:
    """Weighted tags of a clip, derived from its style (for MuSimNet's S).

    Genre (weight 1), mood and sound descriptors from the duration-weighted
    mean section latent (weight = how far past the threshold), tempo class,
    majority mode, meter, and the instruments heard (weight = share of time).
    """
    w = np.asarray(durations_s, dtype=float)
    w = w / w.sum()
    mean = np.average(np.asarray([s.latent for s in sections]), axis=0, weights=w)
    energy, valence, _, density, acoustic = (float(v) for v in mean)
    tags: dict[str, float] = {clip.genre: 1.0}

    def graded(name: str, value: float, threshold: float = 0.25) -> None:
        if value > threshold:
            tags[name] = round(min(1.0, 0.5 + value - threshold), 3)

    graded("happy", valence)
    graded("sad", -valence)
    graded("energetic", energy)
    graded("calm", -energy)
    graded("busy", density)
    graded("sparse", -density)
    graded("acoustic", acoustic)
    graded("synthetic", -acoustic)
    tempo = float(np.average([s.tempo_bpm for s in sections], weights=w))
    tags["slow" if tempo < 90 else "fast" if tempo > 125 else "mid-tempo"] = 1.0
    major = float(sum(wi for wi, s in zip(w, sections) if s.mode == "major"))
    tags["major" if major >= 0.5 else "minor"] = round(max(major, 1.0 - major), 3)
    if clip.beats_per_bar == 3:
        tags["waltz"] = 1.0
    for instrument in sorted({s.instrument for s in sections}):
        share = float(sum(wi for wi, s in zip(w, sections) if s.instrument == instrument))
        tags[instrument] = round(share, 3)
    drums = float(sum(wi for wi, s in zip(w, sections) if s.drum_pattern != "none"))
    if drums > 0:
        tags["drums"] = round(drums, 3)
    return tags
