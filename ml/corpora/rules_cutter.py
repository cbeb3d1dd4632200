"""World B, "the cutter": an editor who cuts on the beat and paints with harmony.

**Listening.** librosa's beat tracker on spectral-flux onsets gives a beat grid;
the bar (meter 3 or 4 and its phase) is where chroma changes and low-frequency
onsets concentrate. Sections come from ``librosa.segment.agglomerative`` on
beat-synchronous chroma and MFCCs, snapped to downbeats; sections with similar
means share a label.

**Cutting.** Cuts fall on beats. The unit shot is set by the tempo: one beat below
80 BPM, two beats up to 120 BPM, one bar above. A shot lasts 1, 2, 4 or 8 units,
drawn with odds that depend on how loud its section is against the loudest one:
in loud sections (within 1.5 dB) half the shots last one unit (the dominant shot
length), in quiet ones (4 dB or more below) none do and shots of 4-8 units are
common. A beat in the loudest tenth of the excerpt halves the shot, the bar before
the loudest section is cut on every beat (the run-up to the climax), and one shot
in ten ends a beat early. Every section change is a cut. Cuts on downbeats often
come 1-3 frames early (cutting "just before the one"), other cuts are a frame off
half the time. Into a section more than 5 dB quieter the cut is a fade through
black of one bar; into one more than 2 dB quieter, and at three other section
changes in ten, a dissolve of one beat; inside quieter sections some cuts dissolve
(15 % in middle, 40 % in quiet ones).

**Painting.** A section label is a *look*: a procedural texture (blobs, bands,
gratings or rings, picked by the section's spectral centroid), a motion (drift,
pan, zoom or rotation, picked by its onset rate) and the texture's constants. The
colour follows the harmony: the hue is the circular mean of the pitch classes of
the (slowly smoothed) chromagram, turning at most a quarter turn a second; the
palette spreads up or down the colour wheel by the section's mode (major / minor
template), its saturation follows tonalness (spectral flatness, in decades).
Brightness follows loudness with a small flash (3.5 %) on each beat; the motion's
speed follows onset strength (pans slow down over finer textures, zooms breathe in
and out); the texture's detail follows the spectral centroid. Each shot frames its look
from a new camera (offset, scale, angle, sometimes inverted tones), chosen so that
consecutive shots differ visibly. Per-clip hue offset and gamma, and per-frame
sensor noise, blur the mapping.
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

__all__ = ["MOTIONS", "NAME", "TEXTURES", "Analysis", "analyse", "edit", "make_clip"]

NAME = "b"
TEXTURES = ("blobs", "bands", "gratings", "rings")
MOTIONS = ("drift", "pan", "zoom", "rotate")
#: Mean absolute difference (8-bit levels) that consecutive shots must reach at a cut.
MIN_CUT_CONTRAST = 40.0

_MAJOR = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1], float)
_MINOR = np.array([1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0], float)


@dataclass
class Analysis:
    """What the cutter hears in an excerpt (times in seconds, curves per feature frame)."""

    duration_s: float
    tempo_bpm: float
    meter: int
    beats_s: np.ndarray
    is_downbeat: np.ndarray
    section_starts: list[int]  # beat indices
    labels: list[int]
    loudness_db: np.ndarray
    onset_env: np.ndarray
    chroma: np.ndarray  # (12, n_frames)
    centroid_hz: np.ndarray
    flatness: np.ndarray
    section_features: list[dict] = field(default_factory=list)

    @property
    def downbeats_s(self) -> np.ndarray:
        return self.beats_s[self.is_downbeat]

    def section_bounds_s(self) -> list[tuple[float, float]]:
        starts = [float(self.beats_s[i]) if i else 0.0 for i in self.section_starts]
        return list(zip(starts, starts[1:] + [self.duration_s]))


def analyse(y: np.ndarray) -> Analysis:
    """Listen to a mono excerpt at :data:`music.SR` Hz."""
    duration = len(y) / music.SR
    spec = np.abs(librosa.stft(y, n_fft=2048, hop_length=music.HOP))
    power = spec**2
    mel = librosa.feature.melspectrogram(S=power, sr=music.SR, n_mels=64)
    onset_env = librosa.onset.onset_strength(S=librosa.power_to_db(mel), sr=music.SR)
    tempo, beats = music.beat_grid(onset_env, duration)
    chroma = librosa.feature.chroma_stft(S=power, sr=music.SR)
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=13)
    loud = music.loudness_db(y)
    n = min(spec.shape[1], len(loud), len(onset_env))

    # The bar: chroma change and bass onsets at the beat.
    bchroma = music.beat_sync(chroma[:, :n], beats)
    change = np.r_[
        0.0,
        1
        - np.sum(bchroma[:, 1:] * bchroma[:, :-1], 0)
        / (np.linalg.norm(bchroma[:, 1:], axis=0) * np.linalg.norm(bchroma[:, :-1], axis=0) + 1e-9),
    ]
    low = librosa.onset.onset_strength(S=librosa.power_to_db(mel[:8]), sr=music.SR)[:n]
    beat_frames = np.clip(
        librosa.time_to_frames(beats, sr=music.SR, hop_length=music.HOP), 0, n - 1
    )
    accent = music.zscore(change) + music.zscore(low[beat_frames])
    meter, phase = music.downbeats(accent)
    is_down = np.zeros(len(beats), bool)
    is_down[phase::meter] = True

    # Sections on the beat grid, snapped to downbeats.
    feats = np.vstack([music.zscore(bchroma), music.zscore(music.beat_sync(mfcc[1:, :n], beats))])
    k = int(np.clip(round(duration / 12.0), 2, 6))
    starts = music.agglomerative_sections(feats, k, min_len=2 * meter)
    down_idx = np.flatnonzero(is_down)
    snapped = sorted(
        {int(down_idx[np.argmin(np.abs(down_idx - s))]) for s in starts[1:]}
        if len(down_idx)
        else set()
    )
    starts = [0] + [s for s in snapped if 2 * meter <= s <= len(beats) - 2 * meter]
    labels = music.section_labels(feats, starts)

    a = Analysis(
        duration_s=duration,
        tempo_bpm=float(tempo),
        meter=meter,
        beats_s=beats,
        is_downbeat=is_down,
        section_starts=starts,
        labels=labels,
        loudness_db=loud[:n],
        onset_env=onset_env[:n],
        chroma=chroma[:, :n],
        centroid_hz=librosa.feature.spectral_centroid(S=spec, sr=music.SR)[0, :n],
        flatness=librosa.feature.spectral_flatness(S=spec)[0, :n],
    )
    a.section_features = [_section_features(a, t0, t1) for t0, t1 in a.section_bounds_s()]
    return a


def _section_features(a: Analysis, t0: float, t1: float) -> dict:
    times = music.frames_to_s(len(a.loudness_db))
    sel = (times >= t0) & (times < t1)
    sel = sel if sel.any() else np.ones_like(sel)
    chroma = a.chroma[:, sel].mean(axis=1)
    key = [np.corrcoef(np.roll(t, s), chroma)[0, 1] for t in (_MAJOR, _MINOR) for s in range(12)]
    onsets = librosa.onset.onset_detect(onset_envelope=a.onset_env[sel], sr=music.SR)
    return {
        "loudness_db": float(10 * np.log10(np.mean(10 ** (a.loudness_db[sel] / 10)))),
        "major": bool(np.nanargmax(key) < 12),
        "tonalness": float(np.clip(-np.log10(np.mean(a.flatness[sel]) + 1e-9) - 1, 0, 3) / 3),
        "centroid_hz": float(np.median(a.centroid_hz[sel])),
        "onset_rate": float(len(onsets) / max(t1 - t0, 1e-3)),
    }


# --------------------------------------------------------------------------- #
# Cutting
# --------------------------------------------------------------------------- #


#: Shot lengths in units, and their probabilities in loud, middle and quiet sections.
_SHOT_UNITS = np.array([1, 2, 4, 8])
_SHOT_UNIT_P = np.array([[0.5, 0.25, 0.25, 0.0], [0.3, 0.3, 0.25, 0.15], [0.0, 0.3, 0.4, 0.3]])


def _level(drop_db: float) -> int:
    """0 for a loud section (within 1.5 dB of the loudest), 1 middle, 2 quiet (4 dB down)."""
    return 0 if drop_db < 1.5 else 1 if drop_db < 4 else 2


def _unit_beats(tempo_bpm: float, meter: int) -> int:
    return 1 if tempo_bpm < 80 else 2 if tempo_bpm < 120 else meter


def _gradual_fits(cut: Cut, prev_frame: int, next_frame: int) -> Cut:
    """Shorten a gradual transition to fit between its neighbours (a hard cut if < 8 frames)."""
    room = min(cut.frame - prev_frame, next_frame - cut.frame)
    length = min(cut.length, 2 * (room // 2) - 4)
    if length == cut.length:
        return cut
    return Cut(cut.frame, cut.kind, length, cut.why) if length >= 8 else Cut(cut.frame, why=cut.why)


def edit(a: Analysis, fps: float, rng: np.random.Generator) -> tuple[list[Cut], list[int]]:
    """The cut list of an excerpt, and the look (section label) of each shot."""
    n_frames = round(a.duration_s * fps)
    beat_period = 60.0 / a.tempo_bpm
    unit = _unit_beats(a.tempo_bpm, a.meter)
    sec_db = np.array([s["loudness_db"] for s in a.section_features])
    top = sec_db.max()
    frames_db = a.loudness_db
    beat_db = music.resample_curve(frames_db, a.beats_s)
    loud_beat = beat_db >= np.quantile(beat_db, 0.9)
    climax = int(np.argmax(sec_db))
    n_beats = len(a.beats_s)
    bounds = a.section_starts + [n_beats]

    planned: list[tuple[int, bool]] = []  # (beat index, is section change)
    for s, (b0, b1) in enumerate(itertools.pairwise(bounds)):
        level = _level(top - sec_db[s])
        run_up = b1 - a.meter if (s + 1 == climax) else n_beats
        if b0 > 0:
            planned.append((b0, True))
        i = b0
        while True:
            n = unit * int(rng.choice(_SHOT_UNITS, p=_SHOT_UNIT_P[level]))
            if loud_beat[min(i, n_beats - 1)]:
                n = max(1, n // 2)
            if i >= run_up:
                n = 1
            elif rng.random() < 0.1:
                n = max(1, n - 1)  # cut a beat early
            i += n
            if i >= b1 - 1:
                break
            planned.append((i, False))

    cuts: list[Cut] = []
    min_shot = max(6, int(0.24 * fps))
    for i, is_section in planned:
        frame = round(a.beats_s[i] * fps)
        r = rng.random()
        if a.is_downbeat[i] and r < 0.4:
            frame -= int(rng.integers(1, 4))
        elif r < 0.5:
            frame += int(rng.choice([-1, 1]))
        if frame < min_shot or frame > n_frames - min_shot:
            continue
        if cuts and frame - cuts[-1].frame < min_shot:
            if not is_section:
                continue
            cuts.pop()
        kind, length = "hard", 0
        s = int(np.searchsorted(bounds, i, side="right")) - 1
        if is_section:
            drop = sec_db[s - 1] - sec_db[s]
            if drop > 5:
                kind, length = "fade", int(np.clip(a.meter * beat_period * fps, 12, 40))
            elif drop > 2 or rng.random() < 0.3:
                kind, length = "dissolve", int(np.clip(beat_period * fps, 8, 25))
        elif rng.random() < (0.0, 0.15, 0.4)[_level(top - sec_db[s])]:
            kind, length = "dissolve", int(np.clip(beat_period * fps, 8, 20))
        cuts.append(Cut(frame, kind, length, "section" if is_section else "beat"))

    # Gradual transitions must fit between their neighbours.
    edges = [0] + [c.frame for c in cuts] + [n_frames]
    cuts = [
        _gradual_fits(c, edges[k], edges[k + 2]) if c.kind != "hard" else c
        for k, c in enumerate(cuts)
    ]
    starts_s = np.array([t0 for t0, _ in a.section_bounds_s()])
    looks = [
        a.labels[int(np.searchsorted(starts_s, f / fps, side="right")) - 1]
        for f in [0] + [c.frame for c in cuts]
    ]
    return cuts, looks


# --------------------------------------------------------------------------- #
# Painting
# --------------------------------------------------------------------------- #


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """HSV (hue in turns) to RGB in [0, 1]; broadcasts, RGB on the last axis."""
    h = np.asarray(h) % 1.0
    k = (np.array([5.0, 3.0, 1.0]) + 6.0 * np.asarray(h)[..., None]) % 6.0
    return np.asarray(v)[..., None] * (
        1 - np.asarray(s)[..., None] * np.clip(np.minimum(k, 4 - k), 0, 1)
    )


def _follow_angle(turns: np.ndarray, max_step: float) -> np.ndarray:
    """Follow an angle (in turns) no faster than ``max_step`` turns per sample.

    The circular mean of a flat chromagram swings fast and means little; the
    colour then turns slowly instead of flashing.
    """
    out = np.empty_like(turns)
    out[0] = turns[0]
    for i in range(1, len(turns)):
        step = (turns[i] - out[i - 1] + 0.5) % 1.0 - 0.5
        out[i] = out[i - 1] + min(max(step, -max_step), max_step)
    return out


def _smooth(curve: np.ndarray, seconds: float, rate: float) -> np.ndarray:
    return scipy.ndimage.gaussian_filter1d(curve, max(seconds * rate, 1e-3), mode="nearest")


@dataclass
class _Look:
    texture: str
    motion: str
    consts: np.ndarray  # (8, 4) texture constants
    spread: float  # palette step (turns), sign = mode
    saturation: float


def _looks(a: Analysis, rng: np.random.Generator) -> dict[int, _Look]:
    looks: dict[int, _Look] = {}
    prev = None
    for label, feat in zip(a.labels, a.section_features):
        if label in looks:
            prev = looks[label].texture
            continue
        t = int(np.digitize(feat["centroid_hz"], [800, 1300, 2000]))
        if TEXTURES[t] == prev:
            t = (t + 1) % len(TEXTURES)
        m = int(np.digitize(feat["onset_rate"], [3.5, 4.8, 6.0]))
        looks[label] = _Look(
            TEXTURES[t],
            MOTIONS[m],
            rng.uniform(-1, 1, (8, 4)),
            (0.09 if feat["major"] else -0.09) * (1 + 0.3 * rng.random()),
            0.35 + 0.6 * feat["tonalness"],
        )
        prev = TEXTURES[t]
    return looks


def _texture(look: _Look, u: np.ndarray, v: np.ndarray, detail: float, phase: float):
    """The look's texture at coordinates ``u, v`` (float32 arrays), values in [0, 1]."""
    c = look.consts.tolist()  # Python floats keep the arithmetic in float32
    detail, phase = float(detail), float(phase)
    if look.texture == "blobs":
        acc = np.zeros_like(u)
        for k in range(6):
            cx = 1.6 * c[k][0] + 0.25 * math.sin(phase + 3 * c[k][2])
            cy = 1.0 * c[k][1] + 0.25 * math.cos(phase + 3 * c[k][3])
            r = (0.35 + 0.2 * c[k][2]) / detail
            acc += np.exp(((u - cx) ** 2 + (v - cy) ** 2) * (-0.5 / (r * r)))
        return np.tanh(1.3 * acc)
    if look.texture == "bands":
        horizon = v + 0.35 * np.sin(1.3 * detail * u + (phase + 3 * c[0][0]))
        return 0.5 + 0.5 * np.tanh(2.5 * np.sin(1.7 * detail * horizon + 3 * c[0][1]))
    if look.texture == "gratings":
        acc = np.zeros_like(u)
        for k in range(3):
            ang, f = math.pi * c[k][0], detail * (1.5 + c[k][1])
            acc += np.sin(
                (f * math.cos(ang)) * u
                + (f * math.sin(ang)) * v
                + (phase * (1 + k) / 2 + 3 * c[k][2])
            )
        return 0.5 + acc / 6
    r = np.hypot(u - 0.8 * c[0][0], v - 0.6 * c[0][1])
    return 0.5 + 0.5 * np.sin(2.4 * detail * r + (3 * c[0][2] - phase))


def _camera(rng: np.random.Generator) -> np.ndarray:
    """offset x, offset y, log scale, angle, direction (radians), inverted tones (0/1)."""
    return np.array(
        [
            rng.uniform(-2, 2),
            rng.uniform(-2, 2),
            rng.uniform(-0.5, 0.5),
            rng.uniform(0, np.pi),
            rng.uniform(0, 2 * np.pi),
            float(rng.random() < 0.3),
        ]
    )


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
        self.a, self.fps = a, fps
        width, height = size
        self.n_frames = round(a.duration_s * fps)
        aspect = width / height
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        self.X = (2 * (xs + 0.5) / width - 1) * aspect
        self.Y = 1 - 2 * (ys + 0.5) / height
        t = np.arange(self.n_frames) / fps
        rate = music.SR / music.HOP

        loud = music.resample_curve(_smooth(a.loudness_db, 0.15, rate), t)
        self.gain = 0.45 + 0.55 * np.clip((loud + 45) / 40, 0, 1)
        since = t - a.beats_s[np.clip(np.searchsorted(a.beats_s, t, side="right") - 1, 0, None)]
        self.gain = self.gain * (1 + 0.035 * np.exp(-np.maximum(since, 0) / 0.12))
        onset = a.onset_env / (np.quantile(a.onset_env, 0.95) + 1e-9)
        speed = 0.15 + np.clip(music.resample_curve(_smooth(onset, 0.3, rate), t), 0, 1.2)
        self.travel = np.cumsum(speed) / fps
        self.detail = 1 + 1.5 * np.clip(
            (music.resample_curve(_smooth(a.centroid_hz, 1.0, rate), t) - 800) / 3000, 0, 1
        )
        chroma = _smooth(a.chroma, 2.0, rate)
        angle = np.angle(np.exp(2j * np.pi * np.arange(12) / 12) @ chroma) / (2 * np.pi)
        self.hue = _follow_angle(music.resample_curve(np.unwrap(angle, period=1.0), t), 0.25 / fps)
        self.hue = self.hue + rng.uniform(-0.04, 0.04)
        self.gamma = rng.uniform(0.85, 1.15)
        self.grain = rng.normal(0, 2.0 / 255, (17, 3, *self.X.shape)).astype(np.float32)
        self.looks = _looks(a, rng)
        self.shot_look = [self.looks[label] for label in looks]
        self.shot_start = [0] + [c.frame for c in cuts]
        self.cameras = [_camera(rng) for _ in self.shot_start]
        for k in range(1, len(self.cameras)):
            self._separate(k, rng)

    def _separate(self, k: int, rng: np.random.Generator) -> None:
        """Re-frame shot ``k`` until it differs from shot ``k - 1`` at the cut."""
        f = self.shot_start[k]
        before = self.draw(k - 1, f - 1)
        best = (-1.0, self.cameras[k])
        for _ in range(24):
            diff = mean_abs_diff(before, self.draw(k, f))
            if diff >= MIN_CUT_CONTRAST:
                return
            best = max(best, (diff, self.cameras[k]), key=lambda x: x[0])
            self.cameras[k] = _camera(rng)
        self.cameras[k] = best[1]

    def draw(self, k: int, f: int) -> np.ndarray:
        look, cam = self.shot_look[k], self.cameras[k]
        f = min(max(f, 0), self.n_frames - 1)
        w = self.travel[f] - self.travel[min(self.shot_start[k], self.n_frames - 1)]
        ox, oy, log_s, ang, heading, invert = cam
        detail = self.detail[f]
        phase = 0.0
        if look.motion == "pan":  # slower over finer textures
            ox, oy = (
                ox + 0.35 * w * np.cos(heading) / detail,
                oy + 0.35 * w * np.sin(heading) / detail,
            )
        elif look.motion == "zoom":  # the camera breathes in and out
            log_s += 0.35 * np.sin(0.5 * w + heading)
        elif look.motion == "rotate":
            ang += 0.3 * w
        else:
            phase = 1.2 * w
        s = np.exp(log_s)
        ca, sa = np.float32(np.cos(ang) / s), np.float32(np.sin(ang) / s)
        u = ca * self.X + sa * self.Y + np.float32(ox)
        v = ca * self.Y - sa * self.X + np.float32(oy)
        val = _texture(look, u, v, detail, phase).astype(np.float32)[None]
        if invert:
            val = 1 - val
        h, g = self.hue[f], self.gain[f]
        c0 = _hsv_to_rgb(h + 0.5, look.saturation * 0.8, 0.25) ** self.gamma * g
        c1 = _hsv_to_rgb(h, look.saturation, 0.8) ** self.gamma * g
        c2 = _hsv_to_rgb(h + 2 * look.spread, look.saturation * 0.6, 1.0) ** self.gamma * g
        # The quadratic Bezier c0 (1-v)^2 + 2 c1 v (1-v) + c2 v^2, in Horner form.
        a, b, c = (
            np.asarray(x, np.float32)[:, None, None] for x in (c0 - 2 * c1 + c2, 2 * (c1 - c0), c0)
        )
        return (val * a + b) * val + c

    def finish(self, img: np.ndarray, f: int) -> np.ndarray:
        return img + self.grain[f % len(self.grain)]


def make_clip(
    y: np.ndarray, fps: float, size: tuple[int, int], rng: np.random.Generator
) -> tuple[Iterator[np.ndarray], dict]:
    """Listen, cut and paint one excerpt.

    Parameters
    ----------
    y : np.ndarray
        The excerpt, mono at :data:`music.SR` Hz.
    fps : float
        Frame rate; the clip has ``round(duration * fps)`` frames.
    size : (width, height)
    rng : np.random.Generator
        All of the world's randomness.

    Returns
    -------
    frames : iterator of np.ndarray
        ``uint8`` RGB frames, rendered lazily.
    truth : dict
        What the rules used: tempo, meter, beats, downbeats, sections and their
        labels, cuts (see :meth:`Cut.as_truth`) and each shot's look.
    """
    a = analyse(y)
    cuts, looks = edit(a, fps, rng)
    painter = _Painter(a, cuts, looks, fps, size, rng)
    truth = {
        "tempo_bpm": a.tempo_bpm,
        "meter": a.meter,
        "shot_unit_beats": _unit_beats(a.tempo_bpm, a.meter),
        "beats": a.beats_s.tolist(),
        "downbeats": a.downbeats_s.tolist(),
        "sections": [
            {"start": t0, "end": t1, "label": lab} | {k: v for k, v in feat.items()}
            for (t0, t1), lab, feat in zip(a.section_bounds_s(), a.labels, a.section_features)
        ],
        "cuts": [c.as_truth(fps) for c in cuts],
        "shots": [
            {
                "start": s / fps,
                "look": lab,
                "texture": painter.looks[lab].texture,
                "motion": painter.looks[lab].motion,
            }
            for s, lab in zip(painter.shot_start, looks)
        ],
    }
    return compose(painter.n_frames, cuts, painter.draw, painter.finish), truth
