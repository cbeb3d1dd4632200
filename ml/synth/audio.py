"""Audio primitives: tones, drums, click tracks, beat grids and song sections.

Everything is additive synthesis in NumPy, mono float32, at any sample rate.
The functions are pure: randomness comes only from a ``numpy.random.Generator``
or an integer seed passed in, so equal arguments give equal samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ml.synth.errors import SynthSpecError
from ml.synth.style import SectionStyle

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)


@dataclass(frozen=True)
class Timbre:
    """A pitched instrument for additive synthesis.

    ``partials`` are frequency ratios to the fundamental. ``amplitudes`` are
    their weights; ``None`` means ``k ** -rolloff`` for the k-th partial, so
    the caller's roll-off sets the brightness. ``decay_s`` is the time
    constant of an exponential decay (``None``: sustained).
    """

    partials: tuple[float, ...]
    amplitudes: tuple[float, ...] | None = None
    attack_s: float = 0.01
    decay_s: float | None = None
    vibrato: float = 0.0


def _harmonics(n: int, stretch: float = 0.0) -> tuple[float, ...]:
    return tuple(k * np.sqrt(1.0 + stretch * k * k) for k in range(1, n + 1))


INSTRUMENTS: dict[str, Timbre] = {
    "sine": Timbre(partials=(1.0,), amplitudes=(1.0,), attack_s=0.005),
    # Piano strings are stiff: slightly sharp upper partials (two sines per
    # partial cost more than the recurrence), and they decay.
    "piano": Timbre(partials=_harmonics(8, 4e-4), attack_s=0.004, decay_s=0.5),
    "strings": Timbre(partials=_harmonics(10), attack_s=0.12, vibrato=0.004),
    "pluck": Timbre(partials=_harmonics(10), attack_s=0.002, decay_s=0.18),
    "organ": Timbre(
        partials=(1.0, 2.0, 3.0, 4.0, 6.0, 8.0),
        amplitudes=(1.0, 0.8, 0.6, 0.5, 0.3, 0.2),
        attack_s=0.01,
    ),
    # Bells have inharmonic partials (a free bar's modes).
    "bell": Timbre(
        partials=(1.0, 2.76, 5.40, 8.93),
        amplitudes=(1.0, 0.6, 0.4, 0.25),
        attack_s=0.002,
        decay_s=0.8,
    ),
    "saw_synth": Timbre(partials=_harmonics(14), attack_s=0.01),
    "square_lead": Timbre(partials=tuple(float(k) for k in range(1, 16, 2)), attack_s=0.01),
    "sine_pad": Timbre(partials=(1.0, 2.0), amplitudes=(1.0, 0.15), attack_s=0.25, vibrato=0.002),
    "bass": Timbre(
        partials=(1.0, 2.0, 3.0), amplitudes=(1.0, 0.35, 0.1), attack_s=0.005, decay_s=0.35
    ),
}
"""Built-in timbres by name (the style's instruments plus ``sine`` and ``bass``)."""


def midi_to_hz(midi: float) -> float:
    """Equal-tempered frequency of a MIDI note number (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def _check_sr(sr: int) -> None:
    if sr <= 0:
        raise SynthSpecError(f"sample rate must be positive, got {sr}")


def tone(
    freq_hz: float,
    duration_s: float,
    sr: int = 22050,
    *,
    timbre: str | Timbre = "sine",
    rolloff: float = 1.0,
    amplitude: float = 1.0,
) -> np.ndarray:
    """One note: additive synthesis of ``timbre`` at ``freq_hz``.

    ``rolloff`` applies to timbres without fixed amplitudes: the k-th partial
    weighs ``k ** -rolloff`` (1 gives a true sawtooth or square wave, larger
    is duller). Partials at or above 45 % of ``sr`` are dropped (no aliasing). A 5 ms
    fade-out ends every note so that notes cut at a section end do not click.
    The peak is at most ``amplitude``.
    """
    _check_sr(sr)
    if freq_hz <= 0 or duration_s <= 0:
        raise SynthSpecError(
            f"tone needs a positive frequency and duration, got {freq_hz}, {duration_s}"
        )
    spec = INSTRUMENTS[timbre] if isinstance(timbre, str) else timbre
    return amplitude * _tone_cached(
        float(freq_hz), round(duration_s * sr), sr, spec, float(rolloff)
    )


@lru_cache(maxsize=1024)
def _tone_cached(freq_hz: float, n: int, sr: int, spec: Timbre, rolloff: float) -> np.ndarray:
    # Songs repeat their notes (chords every bar, choruses): cache the renders.
    t = np.arange(n, dtype=np.float64) / sr
    ratios = np.asarray(spec.partials)
    amps = (
        np.asarray(spec.amplitudes)
        if spec.amplitudes is not None
        else np.arange(1, len(ratios) + 1, dtype=np.float64) ** -rolloff
    )
    keep = ratios * freq_hz < 0.45 * sr
    ratios, amps = ratios[keep], amps[keep]
    phase_t = t
    if spec.vibrato:
        # Integrated 5 Hz frequency modulation of relative depth `vibrato`.
        phase_t = t - spec.vibrato / (2 * np.pi * 5.0) * np.cos(2 * np.pi * 5.0 * t)
    y = _partials_sum(2 * np.pi * freq_hz * phase_t, ratios, amps)
    y /= max(amps.sum(), 1e-9)
    env = np.ones(n)
    n_attack = min(n, max(1, int(spec.attack_s * sr)))
    env[:n_attack] = np.linspace(0.0, 1.0, n_attack, endpoint=False)
    if spec.decay_s is not None:
        env *= np.exp(-np.maximum(t - spec.attack_s, 0.0) / spec.decay_s)
    n_release = min(n, int(0.005 * sr))
    if n_release:
        env[n - n_release :] *= np.linspace(1.0, 0.0, n_release)
    out = (y * env).astype(np.float32)
    out.flags.writeable = False
    return out


def _partials_sum(phase: np.ndarray, ratios: np.ndarray, amps: np.ndarray) -> np.ndarray:
    """Sum of ``amps[k] * sin(ratios[k] * phase)``.

    Integer ratios (harmonic timbres) use the Chebyshev recurrence
    sin((k+1)x) = 2 cos(x) sin(kx) - sin((k-1)x): one sine and one cosine in
    all instead of one sine per partial, the bulk of the synthesis cost.
    """
    y = np.zeros_like(phase)
    integer = np.all(ratios == np.round(ratios))
    if not integer:
        for ratio, amp in zip(ratios, amps):
            y += amp * np.sin(ratio * phase)
        return y
    weights = dict(zip(np.round(ratios).astype(int), amps))
    two_cos = 2.0 * np.cos(phase)
    previous, current = np.zeros_like(phase), np.sin(phase)
    for k in range(1, max(weights, default=0) + 1):
        if k in weights:
            y += weights[k] * current
        previous, current = current, two_cos * current - previous
    return y


def _noise_burst(
    rng: np.random.Generator, n: int, decay_s: float, sr: int, highpass: int
) -> np.ndarray:
    noise = rng.standard_normal(n + highpass)
    for _ in range(highpass):  # first differences: a cheap high-pass
        noise = np.diff(noise)
    noise /= np.abs(noise).max() + 1e-9
    return (noise * np.exp(-np.arange(n) / (decay_s * sr))).astype(np.float32)


def drum_kit(sr: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Synthesised one-shots: ``kick``, ``snare``, ``hat`` and ``crash``."""
    _check_sr(sr)
    t = np.arange(int(0.35 * sr)) / sr
    # Kick: a sine whose pitch falls from 120 Hz to 45 Hz.
    f = 45.0 + 75.0 * np.exp(-t / 0.03)
    kick = np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / 0.12)
    ts = t[: int(0.25 * sr)]
    snare = 0.6 * _noise_burst(rng, len(ts), 0.06, sr, 1) + 0.4 * np.sin(
        2 * np.pi * 190 * ts
    ) * np.exp(-ts / 0.05)
    return {
        "kick": kick.astype(np.float32),
        "snare": snare.astype(np.float32),
        "hat": 0.5 * _noise_burst(rng, int(0.06 * sr), 0.015, sr, 2),
        "crash": 0.6 * _noise_burst(rng, int(1.2 * sr), 0.45, sr, 2),
    }


DRUM_GRIDS: dict[str, dict[str, str]] = {
    # One bar of 16th notes in 4/4 (12 in 3/4); "x" = hit, "X" = accented hit.
    "half_time": {
        "kick": "X...............",
        "snare": "........x.......",
        "hat": "x...x...x...x...",
    },
    "backbeat": {
        "kick": "X.......x.x.....",
        "snare": "....x.......x...",
        "hat": "x.x.x.x.x.x.x.x.",
    },
    "four_on_floor": {
        "kick": "X...x...x...x...",
        "snare": "....x.......x...",
        "hat": "..x...x...x...x.",
    },
    "breakbeat": {
        "kick": "X.....x...x.....",
        "snare": "....x..x.x..x...",
        "hat": "xxxxxxxxxxxxxxxx",
    },
    "waltz": {"kick": "X...........", "snare": "....x...x...", "hat": "x.x.x.x.x.x."},
}
"""Drum patterns as step grids; every pattern accents the downbeat."""


def _add(buffer: np.ndarray, sample: np.ndarray, start: int, gain: float = 1.0) -> None:
    """Mix ``sample`` into ``buffer`` at ``start``, truncated at the end."""
    if start >= len(buffer) or start < 0:
        return
    n = min(len(sample), len(buffer) - start)
    buffer[start : start + n] += gain * sample[:n]


def beat_grid(
    tempo_bpm: float, duration_s: float, beats_per_bar: int = 4, start_s: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Beat and downbeat times of a steady tempo from ``start_s`` (a downbeat).

    Returns ``(beats_s, downbeats_s)``, the beats strictly before
    ``start_s + duration_s``.
    """
    if tempo_bpm <= 0 or beats_per_bar < 1:
        raise SynthSpecError(
            f"need a positive tempo and meter, got {tempo_bpm} bpm, {beats_per_bar}"
        )
    period = 60.0 / tempo_bpm
    n = int(np.ceil(duration_s / period - 1e-9))
    beats = start_s + period * np.arange(n)
    return beats, beats[::beats_per_bar].copy()


def click_track(
    beats_s: np.ndarray,
    downbeats_s: np.ndarray,
    duration_s: float,
    sr: int = 22050,
    *,
    accent_db: float = 6.0,
    click_hz: float = 1000.0,
    downbeat_hz: float = 1500.0,
) -> np.ndarray:
    """A metronome: 30 ms clicks on beats, louder and higher on downbeats."""
    _check_sr(sr)
    y = np.zeros(round(duration_s * sr), dtype=np.float32)
    t = np.arange(int(0.03 * sr)) / sr
    decay = np.exp(-t / 0.006)
    click = (0.5 * np.sin(2 * np.pi * click_hz * t) * decay).astype(np.float32)
    accent = (0.5 * 10 ** (accent_db / 20) * np.sin(2 * np.pi * downbeat_hz * t) * decay).astype(
        np.float32
    )
    down = {round(s * sr) for s in downbeats_s}
    for s in beats_s:
        i = round(s * sr)
        _add(y, accent if i in down else click, i)
    for i in down - {round(s * sr) for s in beats_s}:
        _add(y, accent, i)
    return y


def chord_midi(key_root: int, mode: str, degree: int, base_midi: int = 57) -> list[int]:
    """A diatonic triad on a scale degree, root first, every note folded into
    the octave ``[base_midi, base_midi + 12)``.

    Folding gives inversions instead of a ladder of root positions: chords
    move by small steps, as a keyboard player's hands would (voice leading).
    """
    scale = MAJOR_SCALE if mode == "major" else MINOR_SCALE
    pitch_classes = [(key_root + scale[step % 7]) % 12 for step in (degree, degree + 2, degree + 4)]
    return [base_midi + (pc - base_midi) % 12 for pc in pitch_classes]


def section_samples(tempo_bpm: float, n_bars: int, beats_per_bar: int, sr: int) -> int:
    """Length in samples of ``n_bars`` bars (what :func:`render_section` renders)."""
    return round(n_bars * beats_per_bar * 60.0 / tempo_bpm * sr)


def render_section(
    style: SectionStyle,
    n_bars: int,
    beats_per_bar: int,
    sr: int,
    kit: dict[str, np.ndarray],
    rng: np.random.Generator,
    *,
    crash: bool = True,
) -> np.ndarray:
    """Render one section of ``n_bars`` bars: drums, bass, chords, a lead line.

    Chords follow ``style.progression`` (one per bar), the bass plays roots,
    the lead arpeggiates chord tones ``style.steps_per_beat`` times a beat in
    ``style.instrument``; the mix is scaled to ``style.loudness_db`` RMS dBFS.
    Notes are cut at the section end, so the timbre changes sharply there.
    ``rng`` draws the arpeggio pattern: pass equal generators for equal
    sections.
    """
    if n_bars < 1:
        raise SynthSpecError(f"a section needs at least one bar, got {n_bars}")
    beat_s = 60.0 / style.tempo_bpm
    n = section_samples(style.tempo_bpm, n_bars, beats_per_bar, sr)
    drums = np.zeros(n, np.float32)
    bass = np.zeros(n, np.float32)
    chords = np.zeros(n, np.float32)
    lead = np.zeros(n, np.float32)
    pattern = [0, 1, 2, 1] if rng.random() < 0.5 else [0, 2, 1, 2]
    octave_jump = int(rng.integers(0, 2))
    step_s = beat_s / style.steps_per_beat
    for bar in range(n_bars):
        bar_start = bar * beats_per_bar * beat_s
        degree = style.progression[bar % len(style.progression)]
        triad = chord_midi(style.key_root, style.mode, degree)
        for note in triad:
            _add(
                chords,
                tone(
                    midi_to_hz(note),
                    beats_per_bar * beat_s,
                    sr,
                    timbre=style.instrument,
                    rolloff=style.rolloff,
                ),
                int(bar_start * sr),
            )
        bass_every = 2 if style.steps_per_beat == 1 else 1
        for beat in range(0, beats_per_bar, bass_every):
            _add(
                bass,
                tone(
                    midi_to_hz(triad[0] - 24 - 12 * (triad[0] >= 64)),
                    0.9 * bass_every * beat_s,
                    sr,
                    timbre="bass",
                ),
                int((bar_start + beat * beat_s) * sr),
            )
        for step in range(beats_per_bar * style.steps_per_beat):
            note = triad[pattern[step % len(pattern)]] + 12 * (
                1 + octave_jump * (step // len(pattern) % 2)
            )
            gain = 1.0 if step == 0 else 0.7
            _add(
                lead,
                tone(
                    midi_to_hz(note),
                    0.9 * step_s,
                    sr,
                    timbre=style.instrument,
                    rolloff=style.rolloff,
                ),
                int((bar_start + step * step_s) * sr),
                gain,
            )
        grid = DRUM_GRIDS.get(style.drum_pattern)
        if grid is not None:
            steps = len(grid["kick"])
            sixteenth = beats_per_bar * beat_s / steps
            for name, row in grid.items():
                for i, hit in enumerate(row):
                    if hit != ".":
                        _add(
                            drums,
                            kit[name],
                            int((bar_start + i * sixteenth) * sr),
                            1.0 if hit == "X" else 0.7,
                        )
    if crash and style.drum_pattern != "none":
        _add(drums, kit["crash"], 0, 0.8)
    mix = 0.9 * drums + 0.6 * bass + 0.35 * chords + 0.45 * lead
    rms = float(np.sqrt(np.mean(mix.astype(np.float64) ** 2)))
    return (mix * (10 ** (style.loudness_db / 20) / max(rms, 1e-9))).astype(np.float32)


def timbre_sections(
    durations_s: list[float],
    instruments: list[str],
    tempi_bpm: list[float],
    sr: int = 22050,
    *,
    beats_per_bar: int = 4,
    root_midi: int = 57,
    gains_db: list[float] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Consecutive sections, each an arpeggio in its own timbre and tempo.

    A small stand-in for a song when a test needs known section boundaries:
    section k plays a major-triad arpeggio in ``instruments[k]`` on the beats
    of ``tempi_bpm[k]``, with a kick on every downbeat. Returns
    ``(y, boundaries_s, beats_s, downbeats_s)``; boundaries include 0 and the
    end.
    """
    if not (len(durations_s) == len(instruments) == len(tempi_bpm)) or not durations_s:
        raise SynthSpecError("durations_s, instruments and tempi_bpm need equal, non-zero lengths")
    gains_db = gains_db or [-18.0] * len(durations_s)
    kit = drum_kit(sr, np.random.default_rng(0))
    parts, beats, downbeats = [], [], []
    start = 0.0
    for duration, instrument, tempo, gain_db in zip(durations_s, instruments, tempi_bpm, gains_db):
        n = round(duration * sr)
        y = np.zeros(n, np.float32)
        b, d = beat_grid(tempo, duration, beats_per_bar)
        triad = [root_midi, root_midi + 4, root_midi + 7]
        for i, t in enumerate(b):
            _add(
                y,
                tone(midi_to_hz(triad[i % 3]), 0.9 * 60.0 / tempo, sr, timbre=instrument),
                int(t * sr),
                0.6,
            )
        for t in d:
            _add(y, kit["kick"], int(t * sr))
        rms = float(np.sqrt(np.mean(y.astype(np.float64) ** 2)))
        parts.append(y * (10 ** (gain_db / 20) / max(rms, 1e-9)))
        beats.append(start + b)
        downbeats.append(start + d)
        start += n / sr
    boundaries = np.concatenate([[0.0], np.cumsum([len(p) for p in parts]) / sr])
    return (
        np.concatenate(parts).astype(np.float32),
        boundaries,
        np.concatenate(beats),
        np.concatenate(downbeats),
    )
