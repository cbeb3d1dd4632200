"""World C, "the painter": bar-long shots of moving shapes, cut on downbeats and accents.

This world is the held-out one: keep it out of every choice made on the others.
Its rules share nothing with world B (:mod:`ml.corpora.rules_cutter`) beyond the
grid tools of :mod:`ml.corpora.music` and the frame compositing.

**Listening.** The mel spectrogram is split into harmonic and percussive parts
(median-filter HPSS). Beats are tracked on the *percussive* onsets with a stiff
tempo (tightness 300); the bar is where bass energy and chroma change peak.
Sections start where the beats' recurrence profiles change (which other parts of
the excerpt they sound like), computed on beat-synchronous timbre (MFCC and
spectral contrast) and snapped to downbeats; sections of similar timbre share a
label.

**Cutting.** Cuts fall exactly on downbeats (the first frame at or after the one),
never early. A section's shot length in bars follows its rate of harmonic change:
one bar where the chords move on most beats, two where they move sometimes, four
where the harmony stands still; one shot in four is doubled, one in seven halved,
and shots in the loudest sections (within 1 dB of the loudest) are halved down to
one bar. In those loud sections the strongest percussive onsets (top 2 % of the
excerpt) get an extra hard cut on the onset itself, off the grid, when no cut is
within three quarters of a bar. Section changes into a quieter section (3 dB or more)
fade through black over a bar, into a louder one (1.5 dB) cut hard, and otherwise
dissolve over two beats; inside quiet sections half the cuts dissolve over a beat.

**Painting.** A dark-to-light gradient background with up to twelve flat shapes. A
section label sets the shape (circle, square, triangle, ring or cross), the motion
(orbit, drift or bounce) and a colour offset. The number of shapes follows the
local onset rate, their speed the percussive energy, their size the bass (growing
by at most 8 % of the frame height a second), their spin the spectral flux; their
hue runs from violet to orange with the spectral centroid (not the pitch), their
saturation with how concentrated the chroma is; the background's lightness follows
the harmonic share of the energy, the exposure a little the loudness. Each shot has
its own layout, gradient direction, zoom and key light, chosen so that consecutive
shots differ visibly. Per-clip colour offset, film grain and a vignette blur the
mapping.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import librosa
import numpy as np
import scipy.ndimage

from ml.corpora import music
from ml.corpora.timeline import Cut, compose, mean_abs_diff

__all__ = ["MOTIONS", "NAME", "SHAPES", "Analysis", "analyse", "edit", "make_clip"]

NAME = "c"
SHAPES = ("circle", "square", "triangle", "ring", "cross")
MOTIONS = ("orbit", "drift", "bounce")
#: Mean absolute difference (8-bit levels) that consecutive shots must reach at a cut.
MIN_CUT_CONTRAST = 40.0
MAX_SHAPES = 12


@dataclass
class Analysis:
    """What the painter hears in an excerpt (times in seconds, curves per feature frame)."""

    duration_s: float
    tempo_bpm: float
    meter: int
    beats_s: np.ndarray
    is_downbeat: np.ndarray
    section_starts: list[int]  # beat indices
    labels: list[int]
    loudness_db: np.ndarray
    perc_env: np.ndarray  # percussive onset strength
    onsets_s: np.ndarray
    onset_strength: np.ndarray  # of each onset
    centroid_hz: np.ndarray
    harmonic_share: np.ndarray  # in [0, 1]
    bass_db: np.ndarray
    chroma: np.ndarray  # (12, n_frames)
    flux: np.ndarray  # spectral flux
    harmonic_change: np.ndarray  # per beat, chroma cosine distance to the previous beat
    section_features: list[dict] = field(default_factory=list)

    @property
    def downbeats_s(self) -> np.ndarray:
        return self.beats_s[self.is_downbeat]

    def section_bounds_s(self) -> list[tuple[float, float]]:
        starts = [float(self.beats_s[i]) if i else 0.0 for i in self.section_starts]
        return list(zip(starts, starts[1:] + [self.duration_s]))


def _cos_change(x: np.ndarray) -> np.ndarray:
    num = np.sum(x[:, 1:] * x[:, :-1], axis=0)
    den = np.linalg.norm(x[:, 1:], axis=0) * np.linalg.norm(x[:, :-1], axis=0) + 1e-9
    return np.r_[0.0, 1 - num / den]


def analyse(y: np.ndarray) -> Analysis:
    """Listen to a mono excerpt at :data:`music.SR` Hz."""
    duration = len(y) / music.SR
    spec = np.abs(librosa.stft(y, n_fft=2048, hop_length=music.HOP))
    mel = librosa.feature.melspectrogram(S=spec**2, sr=music.SR, n_mels=96)
    harm, perc = librosa.decompose.hpss(mel, kernel_size=17)  # on mel power: fast
    perc_env = librosa.onset.onset_strength(S=librosa.power_to_db(perc), sr=music.SR)
    tempo, beats = music.beat_grid(perc_env, duration, tightness=300.0, start_bpm=100.0)
    chroma = librosa.feature.chroma_stft(S=spec**2, sr=music.SR)
    n = spec.shape[1]
    loud = music.loudness_db(y)[:n]
    mel_all = librosa.power_to_db(mel)
    bass = mel_all[:6].mean(axis=0)

    bchroma = music.beat_sync(chroma, beats)
    change = _cos_change(bchroma)
    beat_frames = np.clip(
        librosa.time_to_frames(beats, sr=music.SR, hop_length=music.HOP), 0, n - 1
    )
    meter, phase = music.downbeats(music.zscore(bass[beat_frames]) + music.zscore(change))
    is_down = np.zeros(len(beats), bool)
    is_down[phase::meter] = True

    timbre = np.vstack(
        [
            music.zscore(music.beat_sync(librosa.feature.mfcc(S=mel_all, n_mfcc=20)[1:], beats)),
            music.zscore(
                music.beat_sync(librosa.feature.spectral_contrast(S=spec, sr=music.SR), beats)
            ),
        ]
    )
    starts, _ = music.novelty_sections(timbre, min_len=4 * meter, threshold=0.4)
    down_idx = np.flatnonzero(is_down)
    snapped = sorted(
        {int(down_idx[np.argmin(np.abs(down_idx - s))]) for s in starts[1:]}
        if len(down_idx)
        else set()
    )
    starts = [0] + [s for s in snapped if 2 * meter <= s <= len(beats) - 2 * meter]
    labels = music.section_labels(timbre, starts)

    onset_frames = librosa.onset.onset_detect(
        onset_envelope=perc_env, sr=music.SR, hop_length=music.HOP
    )
    h_rms = np.sqrt(harm.sum(axis=0))
    p_rms = np.sqrt(perc.sum(axis=0))
    a = Analysis(
        duration_s=duration,
        tempo_bpm=float(tempo),
        meter=meter,
        beats_s=beats,
        is_downbeat=is_down,
        section_starts=starts,
        labels=labels,
        loudness_db=loud,
        perc_env=perc_env[:n],
        onsets_s=music.frames_to_s(n)[onset_frames],
        onset_strength=perc_env[onset_frames],
        centroid_hz=librosa.feature.spectral_centroid(S=spec, sr=music.SR)[0],
        harmonic_share=h_rms / (h_rms + p_rms + 1e-9),
        bass_db=bass,
        chroma=chroma,
        flux=librosa.onset.onset_strength(S=mel_all, sr=music.SR)[:n],
        harmonic_change=change,
    )
    a.section_features = [
        _section_features(a, k, t0, t1) for k, (t0, t1) in enumerate(a.section_bounds_s())
    ]
    return a


def _section_features(a: Analysis, k: int, t0: float, t1: float) -> dict:
    times = music.frames_to_s(len(a.loudness_db))
    sel = (times >= t0) & (times < t1)
    sel = sel if sel.any() else np.ones_like(sel)
    bounds = a.section_starts + [len(a.beats_s)]
    change = a.harmonic_change[bounds[k] + 1 : bounds[k + 1]]
    return {
        "loudness_db": float(10 * np.log10(np.mean(10 ** (a.loudness_db[sel] / 10)))),
        "harmonic_change": float(np.mean(change)) if len(change) else 0.0,
        "harmonic_share": float(np.mean(a.harmonic_share[sel])),
    }


# --------------------------------------------------------------------------- #
# Cutting
# --------------------------------------------------------------------------- #


def _bars_per_shot(harmonic_change: float) -> int:
    return 1 if harmonic_change > 0.12 else 2 if harmonic_change > 0.05 else 4


def edit(a: Analysis, fps: float, rng: np.random.Generator) -> tuple[list[Cut], list[int]]:
    """The cut list of an excerpt, and the look (section label) of each shot."""
    n_frames = round(a.duration_s * fps)
    beat_period = 60.0 / a.tempo_bpm
    bar_s = a.meter * beat_period
    sec_db = np.array([s["loudness_db"] for s in a.section_features])
    top = sec_db.max()
    bounds = a.section_starts + [len(a.beats_s)]
    marks: dict[int, str] = {}  # frame -> why: "section" | "grid" | "accent"

    for s, (b0, b1) in enumerate(itertools.pairwise(bounds)):
        if b0 > 0:
            marks[math.ceil(a.beats_s[b0] * fps - 1e-6)] = "section"
        bars = _bars_per_shot(a.section_features[s]["harmonic_change"])
        loud = top - sec_db[s] < 1.0
        i = b0 + int(np.argmax(np.r_[a.is_downbeat[b0:b1], True]))  # the section's first one
        while True:
            n_beats = bars * a.meter
            r = rng.random()
            n_beats = (
                2 * n_beats if r < 0.25 else max(a.meter, n_beats // 2) if r < 0.4 else n_beats
            )
            if loud:
                n_beats = max(a.meter, n_beats // 2)
            i += n_beats
            if i >= b1 - 1:
                break
            frame = math.ceil(a.beats_s[i] * fps - 1e-6)
            if rng.random() < 0.15:
                frame += int(rng.choice([-1, 1]))
            marks.setdefault(frame, "grid")

    # Accents: the strongest onsets of the loud sections.
    strong = a.onset_strength >= np.quantile(a.perc_env, 0.98)
    starts_s = np.array([t0 for t0, _ in a.section_bounds_s()])
    for t, is_strong in zip(a.onsets_s, strong):
        s = int(np.searchsorted(starts_s, t, side="right")) - 1
        if not is_strong or top - sec_db[s] >= 1.0:
            continue
        frame = round(t * fps)
        if all(abs(frame - f) >= 0.75 * bar_s * fps for f in marks):
            marks[frame] = "accent"

    cuts: list[Cut] = []
    min_shot = max(8, int(0.32 * fps))
    for frame in sorted(marks):
        why = marks[frame]
        if frame < min_shot or frame > n_frames - min_shot:
            continue
        if cuts and frame - cuts[-1].frame < min_shot:
            if why != "section":
                continue
            cuts.pop()
        s = int(np.searchsorted(starts_s, frame / fps + 1e-6, side="right")) - 1
        kind, length = "hard", 0
        if why == "section":
            step = sec_db[s] - sec_db[s - 1]
            if step <= -3:
                kind, length = "fade", int(np.clip(bar_s * fps, 12, 40))
            elif step < 1.5:
                kind, length = "dissolve", int(np.clip(2 * beat_period * fps, 8, 30))
        elif top - sec_db[s] >= 5 and rng.random() < 0.5:
            kind, length = "dissolve", int(np.clip(beat_period * fps, 8, 20))
        cuts.append(Cut(frame, kind, length, why))

    edges = [0] + [c.frame for c in cuts] + [n_frames]
    fitted = []
    for k, c in enumerate(cuts):
        room = min(c.frame - edges[k], edges[k + 2] - c.frame)
        length = min(c.length, 2 * (room // 2) - 4)
        fitted.append(
            c
            if c.kind == "hard" or length == c.length
            else Cut(c.frame, c.kind, length, c.why)
            if length >= 8
            else Cut(c.frame, why=c.why)
        )
    looks = [
        a.labels[int(np.searchsorted(starts_s, f / fps + 1e-6, side="right")) - 1]
        for f in [0] + [c.frame for c in fitted]
    ]
    return fitted, looks


# --------------------------------------------------------------------------- #
# Painting
# --------------------------------------------------------------------------- #


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    """One HSV colour (hue in turns) as an RGB column ``(3, 1, 1)`` float32."""
    k = (np.array([5.0, 3.0, 1.0]) + 6.0 * (h % 1.0)) % 6.0
    rgb = v * (1 - s * np.clip(np.minimum(k, 4 - k), 0, 1))
    return rgb.astype(np.float32)[:, None, None]


def _smooth(curve: np.ndarray, seconds: float, rate: float) -> np.ndarray:
    return scipy.ndimage.gaussian_filter1d(curve, max(seconds * rate, 1e-3), mode="nearest")


def _slew(curve: np.ndarray, max_step: float) -> np.ndarray:
    """The curve, changing by at most ``max_step`` per sample (shapes swell, never jump)."""
    out = np.empty_like(curve)
    out[0] = curve[0]
    for i in range(1, len(curve)):
        out[i] = out[i - 1] + min(max(curve[i] - out[i - 1], -max_step), max_step)
    return out


def _unit(curve: np.ndarray) -> np.ndarray:
    lo, hi = np.quantile(curve, [0.05, 0.95])
    return np.clip((curve - lo) / (hi - lo + 1e-9), 0, 1)


@dataclass
class _Look:
    shape: str
    motion: str
    hue_offset: float


@dataclass
class _Layout:
    """A shot's framing: shape slots, background gradient, zoom."""

    base: np.ndarray  # (MAX_SHAPES, 2)
    phase: np.ndarray  # (MAX_SHAPES,)
    heading: np.ndarray  # (MAX_SHAPES,)
    gradient: float  # direction (radians)
    zoom: float
    inverted: bool
    key: float  # lighting: low key < 1 < high key


def _layout(rng: np.random.Generator, aspect: float) -> _Layout:
    return _Layout(
        rng.uniform([-0.9 * aspect, -0.85], [0.9 * aspect, 0.85], (MAX_SHAPES, 2)),
        rng.uniform(0, 2 * np.pi, MAX_SHAPES),
        rng.uniform(0, 2 * np.pi, MAX_SHAPES),
        float(rng.uniform(0, 2 * np.pi)),
        float(np.exp(rng.uniform(-0.4, 0.5))),
        bool(rng.random() < 0.35),
        float(rng.choice([0.6, 1.0, 1.6])),
    )


def _coverage(kind: str, x: np.ndarray, y: np.ndarray, r: float, spin: float, px: float):
    """Anti-aliased coverage in [0, 1] of a shape of size ``r`` centred at the origin."""
    c, s = math.cos(spin), math.sin(spin)
    qx, qy = c * x + s * y, c * y - s * x
    if kind == "circle":
        d = np.hypot(qx, qy) - r
    elif kind == "ring":
        d = np.abs(np.hypot(qx, qy) - r) - 0.25 * r
    elif kind == "square":
        d = np.maximum(np.abs(qx), np.abs(qy)) - 0.8 * r
    elif kind == "triangle":
        d = np.maximum(np.maximum(-qy, 0.866 * qx + 0.5 * qy), -0.866 * qx + 0.5 * qy) - 0.5 * r
    else:
        ax, ay = np.abs(qx), np.abs(qy)
        d = np.minimum(np.maximum(ax - r, ay - 0.3 * r), np.maximum(ax - 0.3 * r, ay - r))
    return np.clip(0.5 - d / px, 0.0, 1.0)


class _Painter:
    def __init__(
        self,
        a: Analysis,
        cuts: list[Cut],
        looks: list[int],
        fps: float,
        size: tuple[int, int],
        rng: np.random.Generator,
    ):
        self.fps = fps
        width, height = size
        self.width, self.height = width, height
        self.aspect = width / height
        self.px = 2.0 / height
        self.n_frames = round(a.duration_s * fps)
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        self.X = (2 * (xs + 0.5) / width - 1) * self.aspect
        self.Y = 1 - 2 * (ys + 0.5) / height
        t = np.arange(self.n_frames) / fps
        rate = music.SR / music.HOP

        def at(curve):
            return music.resample_curve(curve, t)

        onset_rate = np.zeros_like(t)
        for o in a.onsets_s:
            onset_rate += np.exp(-0.5 * ((t - o) / 0.5) ** 2) / (0.5 * math.sqrt(2 * math.pi))
        self.count = np.clip(
            2 + 1.6 * scipy.ndimage.gaussian_filter1d(onset_rate, 0.15 * fps), 2, MAX_SHAPES
        )
        self.travel = np.cumsum(0.4 + 2.0 * at(_smooth(_unit(a.perc_env), 0.2, rate))) / fps
        self.spin = np.cumsum(0.2 + 1.5 * at(_smooth(_unit(a.flux), 0.3, rate))) / fps
        self.size = _slew(0.07 + 0.18 * at(_smooth(_unit(a.bass_db), 0.15, rate)), 0.15 / fps)
        share = at(_smooth(np.log2(np.maximum(a.centroid_hz, 1.0) / 300), 0.5, rate))
        self.hue = 0.72 - 0.6 * np.clip(share / math.log2(4000 / 300), 0, 1)
        chroma = _smooth(a.chroma, 1.0, rate)
        peak = chroma.max(axis=0) / (chroma.sum(axis=0) + 1e-9)
        self.saturation = 0.45 + 0.5 * np.clip((at(peak) - 1 / 12) / 0.25, 0, 1)
        self.light = 0.08 + 0.45 * at(_smooth(a.harmonic_share, 1.0, rate)) ** 2
        self.exposure = 0.75 + 0.25 * np.clip(
            (at(_smooth(a.loudness_db, 0.3, rate)) + 40) / 35, 0, 1
        )
        self.hue_offset = float(rng.uniform(-0.05, 0.05))

        first = int(rng.integers(len(SHAPES)))
        self.looks = {
            label: _Look(
                SHAPES[(first + label) % len(SHAPES)],
                MOTIONS[int(rng.integers(len(MOTIONS)))],
                float(rng.uniform(-0.1, 0.1)),
            )
            for label in sorted(set(a.labels))
        }
        self.shot_look = [self.looks[label] for label in looks]
        self.shot_start = [0] + [c.frame for c in cuts]
        self.layouts = [_layout(rng, self.aspect) for _ in self.shot_start]
        for k in range(1, len(self.layouts)):
            self._separate(k, rng)
        r = np.hypot(self.X / self.aspect, self.Y)
        self.vignette = (1 - 0.25 * np.clip(r - 0.6, 0, None) ** 2)[None].astype(np.float32)
        self.grain = rng.normal(0, 3.0 / 255, (13, 3, height, width)).astype(np.float32)

    def _separate(self, k: int, rng: np.random.Generator) -> None:
        """Re-lay shot ``k`` until it differs from shot ``k - 1`` at the cut."""
        f = self.shot_start[k]
        before = self.draw(k - 1, f - 1)
        best = (-1.0, self.layouts[k])
        for _ in range(12):
            diff = mean_abs_diff(before, self.draw(k, f))
            if diff >= MIN_CUT_CONTRAST:
                return
            best = max(best, (diff, self.layouts[k]), key=lambda x: x[0])
            self.layouts[k] = _layout(rng, self.aspect)
        self.layouts[k] = best[1]

    def _position(self, look: _Look, lay: _Layout, i: int, w: float) -> tuple[float, float]:
        bx, by = lay.base[i]
        ph, hd = lay.phase[i], lay.heading[i]
        if look.motion == "orbit":
            return bx + 0.25 * math.cos(w + ph), by + 0.25 * math.sin(w + ph)
        if look.motion == "drift":
            span = 2 * (self.aspect + 0.7)
            x = (bx + 0.3 * w * math.cos(hd) + self.aspect + 0.7) % span - self.aspect - 0.7
            y = (by + 0.3 * w * math.sin(hd) + 1.7) % 3.4 - 1.7
            return x, y
        return bx, by - 0.2 + 0.4 * abs(math.sin(0.8 * w + ph))

    def draw(self, k: int, f: int) -> np.ndarray:
        look, lay = self.shot_look[k], self.layouts[k]
        f = min(max(f, 0), self.n_frames - 1)
        f0 = min(self.shot_start[k], self.n_frames - 1)
        w = float(self.travel[f] - self.travel[f0])
        hue = float(self.hue[f]) + look.hue_offset + self.hue_offset
        sat, light = float(self.saturation[f]), min(float(self.light[f]) * lay.key, 0.8)
        g0 = _hsv(hue + 0.5, 0.5, light)
        g1 = _hsv(hue + 0.4, 0.6, 0.25 * light + 0.02)
        if lay.inverted:
            g0, g1 = g1, g0
        along = (math.cos(lay.gradient) * self.X + math.sin(lay.gradient) * self.Y) / (
            2 * self.aspect
        ) + 0.5
        img = g1 + (g0 - g1) * along[None]
        r = float(self.size[f]) * lay.zoom
        spin = float(self.spin[f] - self.spin[f0]) * 0.7 + float(lay.phase[0])
        reach = 1.45 * r + self.px
        for i in range(math.ceil(self.count[f])):
            alpha = min(1.0, float(self.count[f]) - i)
            cx, cy = self._position(look, lay, i, w)
            x0 = max(int((cx - reach + self.aspect) / self.px), 0)
            x1 = min(math.ceil((cx + reach + self.aspect) / self.px), self.width)
            y0 = max(int((1 - cy - reach) / self.px), 0)
            y1 = min(math.ceil((1 - cy + reach) / self.px), self.height)
            if x1 <= x0 or y1 <= y0:
                continue
            cov = alpha * _coverage(
                look.shape,
                self.X[y0:y1, x0:x1] - cx,
                self.Y[y0:y1, x0:x1] - cy,
                r,
                spin + i,
                self.px,
            )
            color = _hsv(hue + 0.07 * (i % 3 - 1), sat, 0.95)
            patch = img[:, y0:y1, x0:x1]
            img[:, y0:y1, x0:x1] = patch + (color - patch) * cov[None]
        return img * np.float32(self.exposure[f])

    def finish(self, img: np.ndarray, f: int) -> np.ndarray:
        return img * self.vignette + self.grain[f % len(self.grain)]


def make_clip(
    y: np.ndarray, fps: float, size: tuple[int, int], rng: np.random.Generator
) -> tuple[Iterator[np.ndarray], dict]:
    """Listen, cut and paint one excerpt (see :func:`ml.corpora.rules_cutter.make_clip`)."""
    a = analyse(y)
    cuts, looks = edit(a, fps, rng)
    painter = _Painter(a, cuts, looks, fps, size, rng)
    truth = {
        "tempo_bpm": a.tempo_bpm,
        "meter": a.meter,
        "beats": a.beats_s.tolist(),
        "downbeats": a.downbeats_s.tolist(),
        "sections": [
            {"start": t0, "end": t1, "label": lab} | feat
            for (t0, t1), lab, feat in zip(a.section_bounds_s(), a.labels, a.section_features)
        ],
        "cuts": [c.as_truth(fps) for c in cuts],
        "shots": [
            {
                "start": s / fps,
                "look": lab,
                "shape": painter.looks[lab].shape,
                "motion": painter.looks[lab].motion,
            }
            for s, lab in zip(painter.shot_start, looks)
        ],
    }
    return compose(painter.n_frames, cuts, painter.draw, painter.finish), truth
