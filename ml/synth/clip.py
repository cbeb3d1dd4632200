"""One synthetic music video: plan its form, render its music and picture.

:func:`generate_clip` is a pure function of ``(seed, spec)``. The plan (form,
bar counts, cuts, styles) is drawn first from its own random stream, then the
audio and each shot from theirs, so the arrays are reproducible bit for bit
and frames can be rendered lazily, one shot at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property

import numpy as np

from ml.synth.audio import drum_kit, render_section, section_samples
from ml.synth.errors import SynthSpecError
from ml.synth.style import (
    ClipStyle,
    SectionStyle,
    sample_clip_style,
    sample_section_styles,
    style_tags,
)
from ml.synth.video import ShotLook, check_frame_size, frame_index, render_shot

MIN_SEGMENT_S = 4.0
MAX_SEGMENT_S = 25.0

FORMS: dict[int, tuple[str, ...]] = {
    # Song forms by number of sections; adjacent sections never share a label.
    2: ("AB", "IA"),
    3: ("ABA", "ABC", "IAB"),
    4: ("ABAB", "ABCB", "IABA", "ABAC"),
    5: ("ABACB", "ABABC", "IABAB", "ABCAB"),
    6: ("IABABO", "ABACAB", "ABABCB"),
    7: ("IABABCB", "ABABCAB", "ABACABO"),
    8: ("IABABCBO", "ABABCABA"),
}
"""Song forms; I = intro, O = outro, A/B/C = verse-, chorus-, bridge-like."""


@dataclass(frozen=True)
class ClipSpec:
    """What to generate. Every clip of a corpus shares one spec.

    ``noise`` scales the modality-specific noise of the style decoders (0:
    the picture is a deterministic function of the latent, up to nuisances).
    ``clip_spread`` and ``section_spread`` set how far clips stray from their
    genre and sections from their clip.
    """

    min_duration_s: float = 20.0
    max_duration_s: float = 40.0
    sr: int = 22050
    fps: float = 25.0
    width: int = 192
    height: int = 108
    noise: float = 1.0
    clip_spread: float = 0.35
    section_spread: float = 0.45

    def __post_init__(self) -> None:
        if not 2 * MIN_SEGMENT_S <= self.min_duration_s <= self.max_duration_s <= 8 * MAX_SEGMENT_S:
            raise SynthSpecError(
                f"need {2 * MIN_SEGMENT_S} <= min_duration_s <= max_duration_s <= {8 * MAX_SEGMENT_S} "
                f"(two to eight segments of {MIN_SEGMENT_S}-{MAX_SEGMENT_S} s), "
                f"got {self.min_duration_s}, {self.max_duration_s}"
            )
        if self.sr < 8000:
            raise SynthSpecError(f"sample rate must be at least 8000 Hz, got {self.sr}")
        if self.fps <= 0:
            raise SynthSpecError(f"fps must be positive, got {self.fps}")
        if min(self.noise, self.clip_spread, self.section_spread) < 0:
            raise SynthSpecError("noise and spreads must be non-negative")
        check_frame_size(self.width, self.height)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Shot:
    """A shot: frames ``[start_frame, end_frame)`` of section ``section``."""

    start_frame: int
    end_frame: int
    section: int
    look: ShotLook
    seed: int


@dataclass(frozen=True)
class Section:
    """A music section: its style, length, and the seed of its arrangement
    (equal for sections with equal labels, so that they sound the same)."""

    style: SectionStyle
    n_bars: int
    n_samples: int
    seed: int


@dataclass(frozen=True)
class ClipTruth:
    """The ground truth of a clip, as written to the manifest (times in s)."""

    duration_s: float
    segment_boundaries_s: list[float]
    section_labels: list[str]
    shot_boundaries_s: list[float]
    shot_sections: list[int]
    beats_s: list[float]
    downbeats_s: list[float]
    tempo_bpm: float
    section_tempi_bpm: list[float]
    beats_per_bar: int
    clip_style: dict
    section_styles: list[dict]
    tags: dict[str, float]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SynthClip:
    """A generated clip: lazily rendered audio and frames, and ground truth.

    The plan (``truth``, ``sections``, ``shots``) is computed at once; the
    samples and pixels only when ``audio``, ``frames`` or ``iter_frames()``
    are used, so reading the ground truth of many clips is cheap.
    """

    seed: int
    spec: ClipSpec
    truth: ClipTruth
    sections: list[Section] = field(repr=False)
    shots: list[Shot] = field(repr=False)
    kit_seed: int = field(repr=False, default=0)

    @property
    def sr(self) -> int:
        return self.spec.sr

    @property
    def fps(self) -> float:
        return self.spec.fps

    @property
    def n_frames(self) -> int:
        return self.shots[-1].end_frame

    @cached_property
    def audio(self) -> np.ndarray:
        """Mono float32 samples at ``sr`` (rendered on first use)."""
        kit = drum_kit(self.sr, np.random.default_rng(self.kit_seed))
        bpb = self.truth.beats_per_bar
        audio = np.concatenate(
            [
                render_section(s.style, s.n_bars, bpb, self.sr, kit, np.random.default_rng(s.seed))
                for s in self.sections
            ]
        )
        peak = float(np.abs(audio).max())
        if peak > 0.99:  # keep the relative loudness of sections, avoid clipping
            audio *= 0.99 / peak
        return audio.astype(np.float32)

    def iter_frames(self) -> Iterator[np.ndarray]:
        """Yield frames one at a time (each shot is rendered when reached)."""
        beats = np.asarray(self.truth.beats_s)
        for shot in self.shots:
            start_s = shot.start_frame / self.fps
            frames = render_shot(
                shot.look,
                shot.end_frame - shot.start_frame,
                self.fps,
                self.spec.width,
                self.spec.height,
                np.random.default_rng(shot.seed),
                beats_s=beats - start_s,
            )
            yield from frames

    @cached_property
    def frames(self) -> np.ndarray:
        """All frames, ``(N, height, width, 3)`` uint8 RGB (rendered on first use)."""
        return np.stack(list(self.iter_frames()))


def _plan_bars(
    rng: np.random.Generator, labels: str, bar_s: list[float], target_s: float, spec: ClipSpec
) -> list[int]:
    """Bars per section: repeated labels get equal lengths, segments 4-25 s.

    Lengths follow random per-label weights (intros and outros shorter) scaled
    to the target; a fix-up then adds or removes single bars until the total
    lies within the spec's duration range (when the bar grid allows it).
    """
    weight = {
        label: rng.uniform(0.6, 1.4) * (0.5 if label in "IO" else 1.0)
        for label in sorted(set(labels))
    }
    total_w = sum(weight[label] for label in labels)
    lo = [int(np.ceil(MIN_SEGMENT_S / b - 1e-9)) for b in bar_s]
    hi = [int(np.floor(MAX_SEGMENT_S / b + 1e-9)) for b in bar_s]
    bars = [
        int(np.clip(round(target_s * weight[lab] / total_w / b), low, high))
        for lab, b, low, high in zip(labels, bar_s, lo, hi)
    ]

    def duration() -> float:
        return sum(n * b for n, b in zip(bars, bar_s))

    for _ in range(200):
        if duration() < spec.min_duration_s:
            room = [h - n for n, h in zip(bars, hi)]
            k = int(np.argmax(room))
            if room[k] <= 0:
                break
            bars[k] += 1
        elif duration() > spec.max_duration_s:
            slack = [n - low for n, low in zip(bars, lo)]
            k = int(np.argmax(slack))
            if slack[k] <= 0:
                break
            bars[k] -= 1
        else:
            break
    return bars


MAX_TEMPO_NUDGE = 1.5
"""The most :func:`_tempo_fits` speeds up or slows down a section."""


def _tempo_fits(durations_s: list[float], spec: ClipSpec) -> np.ndarray:
    """Per-section stretch factors that bring the clip into the spec's
    duration range while keeping every segment within 4-25 s.

    Whole bars cannot hit every duration (two bars at 96 bpm already last
    10 s); nudging tempi can. The change is shared among sections in
    proportion to their room (so equal sections stay equal), each by at most
    a factor ``MAX_TEMPO_NUDGE``; when that is not enough the clip gets as
    close as it can. A small margin absorbs rounding to samples and frames.
    """
    margin = 1e-3
    d = np.asarray(durations_s, dtype=float)
    total = d.sum()
    target = float(np.clip(total, spec.min_duration_s + margin, spec.max_duration_s - margin))
    if target == total:
        return np.ones_like(d)
    if target < total:
        room = np.minimum(d - (MIN_SEGMENT_S + margin), d * (1.0 - 1.0 / MAX_TEMPO_NUDGE))
    else:
        room = np.minimum((MAX_SEGMENT_S - margin) - d, d * (MAX_TEMPO_NUDGE - 1.0))
    room = np.maximum(room, 0.0)
    if room.sum() <= 0:
        return np.ones_like(d)
    change = min(abs(target - total), room.sum()) * np.sign(target - total)
    return (d + room * change / room.sum()) / d


def _shot_cuts(rng: np.random.Generator, n_bars: int, bars_per_shot: int) -> list[int]:
    """Bars (inside a section) where a cut falls: every ``bars_per_shot`` bars,
    each kept with probability 0.85 so the editing is not perfectly regular."""
    return [b for b in range(bars_per_shot, n_bars, bars_per_shot) if rng.random() < 0.85]


def generate_clip(seed: int, spec: ClipSpec | None = None) -> SynthClip:
    """Generate one synthetic music video from ``seed``.

    See the package docstring for the generative story. Audio and frames are
    rendered when first used.
    """
    spec = spec or ClipSpec()
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SynthSpecError(f"seed must be a non-negative integer, got {seed!r}")
    style_ss, form_ss, audio_ss, video_ss = np.random.SeedSequence(int(seed)).spawn(4)
    style_rng, form_rng = np.random.default_rng(style_ss), np.random.default_rng(form_ss)

    clip_style: ClipStyle = sample_clip_style(style_rng, spread=spec.clip_spread)
    target_s = form_rng.uniform(spec.min_duration_s, spec.max_duration_s)
    feasible = [n for n in FORMS if n * MIN_SEGMENT_S <= target_s <= n * MAX_SEGMENT_S]
    typical_s = form_rng.uniform(7.0, 16.0)
    n_sections = min(feasible, key=lambda n: abs(n - target_s / typical_s))
    labels = str(form_rng.choice(FORMS[n_sections]))
    styles: list[SectionStyle] = sample_section_styles(
        style_rng, clip_style, list(labels), section_spread=spec.section_spread, noise=spec.noise
    )
    bpb = clip_style.beats_per_bar
    bar_s = [bpb * 60.0 / s.tempo_bpm for s in styles]
    bars = _plan_bars(form_rng, labels, bar_s, target_s, spec)
    stretch = _tempo_fits([n * b for n, b in zip(bars, bar_s)], spec)
    styles = [
        replace(style, tempo_bpm=float(style.tempo_bpm / f)) if f != 1.0 else style
        for style, f in zip(styles, stretch)
    ]
    bar_s = [b * f for b, f in zip(bar_s, stretch)]

    # Music: one arrangement per label (a repeated section is the same music).
    kit_seed, *label_states = (
        int(ss.generate_state(1, np.uint64)[0]) for ss in audio_ss.spawn(1 + len(set(labels)))
    )
    label_seeds = dict(zip(sorted(set(labels)), label_states))
    sections = [
        Section(
            style, n, section_samples(style.tempo_bpm, n, bpb, spec.sr), label_seeds[style.label]
        )
        for style, n in zip(styles, bars)
    ]
    starts = np.concatenate([[0], np.cumsum([s.n_samples for s in sections])]) / spec.sr
    duration_s = float(starts[-1])
    beats, downbeats = [], []
    for style, n, t0 in zip(styles, bars, starts[:-1]):
        beat_s = 60.0 / style.tempo_bpm
        section_beats = t0 + beat_s * np.arange(n * bpb)
        beats.append(section_beats)
        downbeats.append(section_beats[::bpb])
    beats_s, downbeats_s = np.concatenate(beats), np.concatenate(downbeats)

    # Picture: hard cuts at section starts, extra cuts on downbeats inside.
    n_frames = frame_index(duration_s, spec.fps)
    cut_times: list[tuple[float, int]] = []
    for k, (style, n, t0) in enumerate(zip(styles, bars, starts[:-1])):
        cut_times.append((float(t0), k))
        for bar in _shot_cuts(form_rng, n, style.bars_per_shot):
            cut_times.append((float(t0 + bar * bar_s[k]), k))
    cut_frames = [frame_index(t, spec.fps) for t, _ in cut_times] + [n_frames]
    shot_seeds = video_ss.spawn(len(cut_times))
    video_rng = np.random.default_rng(video_ss.spawn(1)[0])
    shots: list[Shot] = []
    sign = 1.0
    for i, (_, k) in enumerate(cut_times):
        style = styles[k]
        sign = -sign if i and cut_times[i - 1][1] == k else float(video_rng.choice([-1.0, 1.0]))
        look = ShotLook(
            hue=float((style.hue + video_rng.normal(0.0, 0.015)) % 1.0),
            saturation=style.saturation,
            value=float(np.clip(style.value + sign * video_rng.uniform(0.05, 0.1), 0.1, 1.0)),
            texture=style.texture,
            texture_cycles=style.texture_cycles,
            texture_contrast=style.texture_contrast,
            motion_px_s=style.motion_px_s,
            n_objects=style.n_objects,
            pulse=style.pulse,
        )
        shots.append(
            Shot(
                cut_frames[i],
                cut_frames[i + 1],
                k,
                look,
                int(shot_seeds[i].generate_state(1, np.uint64)[0]),
            )
        )

    durations = [n * b for n, b in zip(bars, bar_s)]
    section_tempi = [s.tempo_bpm for s in styles]
    truth = ClipTruth(
        duration_s=duration_s,
        segment_boundaries_s=[float(t) for t in starts],
        section_labels=list(labels),
        shot_boundaries_s=[f / spec.fps for f in cut_frames],
        shot_sections=[s.section for s in shots],
        beats_s=[float(t) for t in beats_s],
        downbeats_s=[float(t) for t in downbeats_s],
        tempo_bpm=float(np.average(section_tempi, weights=durations)),
        section_tempi_bpm=section_tempi,
        beats_per_bar=bpb,
        clip_style=clip_style.to_dict(),
        section_styles=[s.to_dict() for s in styles],
        tags=style_tags(clip_style, styles, durations),
    )
    return SynthClip(
        seed=int(seed), spec=spec, truth=truth, sections=sections, shots=shots, kit_seed=kit_seed
    )
