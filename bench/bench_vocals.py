"""The vocals score of the stored auto-tags against tracks whose vocal content is known.

Instrumental tracks are the generated songs of :mod:`ml.synth` (drums, bass, chords, a
lead; never a voice). Vocal tracks are other generated songs with a voice laid over
them: English sentences rendered by ``espeak-ng`` (a Debian package) in a male or a
female voice, sung-like (a high, varied pitch, slow) or spoken, looped over the whole
track and mixed at a voice-to-music RMS ratio (``--levels``, dB). Every track is
tagged exactly as ingestion tags a catalog track
(:func:`ml.pipeline.track.soundtrack_tags`: MusiCNN's MSD and MTT taggrams averaged
over the track), and scored by :func:`ml.features.tags.vocal_score`.

Printed per voice level: ROC AUC of the score (vocal against instrumental), and the
accuracy, precision and recall of ``vocals=true`` at the served threshold
(:data:`ml.features.tags.VOCALS_THRESHOLD`)::

    python -m bench.bench_vocals                 # 20 + 20 tracks of 20 s, levels 0 and -10 dB
    python -m bench.bench_vocals --n 10 --duration 12

With ``--fit``, the threshold is fitted on that set (the equal-error point: as many
instrumental tracks above it as vocal tracks below, in proportion; :func:`equal_error`)
and measured on a second set of other songs (other seeds, other voice/sentence pairs):
precision and recall of ``vocals=true`` (vocal tracks kept) and ``vocals=false``
(instrumental tracks kept), per voice level and over both::

    python -m bench.bench_vocals --fit           # what docs/benchmarks.md reports

Needs ``espeak-ng`` on the PATH (scripts/install.sh installs it with the dev extras).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

import librosa
import numpy as np

from ml.features.tags import VOCALS_THRESHOLD
from ml.pipeline.analysis import DECODE_SAMPLE_RATE
from ml.pipeline.track import soundtrack_tags
from ml.synth.clip import generate_clip

SENTENCES = (
    "the sun goes down over the hills and I am coming home to you tonight",
    "hold on to me, we are dancing in the rain until the morning light",
    "la la la, oh oh oh, sing it with me one more time",
    "every road I take leads me back to the city where we met",
    "I never knew that love could feel like summer in the middle of the winter",
)
#: espeak-ng voice variants: (voice, base pitch 0-99, words per minute).
VOICES = (("en+f3", 70, 120), ("en+m3", 40, 120), ("en-us+f4", 80, 100), ("en+m1", 30, 150))


def render_voice(text: str, voice: str, pitch: int, speed: int, folder: Path) -> np.ndarray:
    """A sentence spoken by espeak-ng, mono float32 at :data:`DECODE_SAMPLE_RATE`."""
    path = folder / "voice.wav"
    subprocess.run(
        ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "-w", str(path), text],
        check=True,
        capture_output=True,
    )
    y, _ = librosa.load(path, sr=DECODE_SAMPLE_RATE, mono=True)
    return y.astype(np.float32)


def instrumental(seed: int, duration_s: float) -> np.ndarray:
    """A generated song's first ``duration_s`` seconds at :data:`DECODE_SAMPLE_RATE`."""
    clip = generate_clip(seed)
    y = librosa.resample(clip.audio, orig_sr=clip.sr, target_sr=DECODE_SAMPLE_RATE)
    n = int(duration_s * DECODE_SAMPLE_RATE)
    return np.tile(y, -(-n // len(y)))[:n].astype(np.float32)


def with_voice(music: np.ndarray, voice: np.ndarray, level_db: float) -> np.ndarray:
    """``music`` with ``voice`` looped over it (0.3 s apart) at ``level_db`` RMS against
    the music, peak-normalised to 0.99 if the mix clips."""
    gap = np.zeros(int(0.3 * DECODE_SAMPLE_RATE), np.float32)
    unit = np.concatenate([voice, gap])
    looped = np.tile(unit, -(-len(music) // len(unit)))[: len(music)]
    rms = lambda a: float(np.sqrt(np.mean(a.astype(np.float64) ** 2)))  # noqa: E731
    mix = music + looped * (rms(music) / max(rms(looped), 1e-9)) * 10 ** (level_db / 20)
    peak = float(np.abs(mix).max())
    return (mix * (0.99 / peak) if peak > 0.99 else mix).astype(np.float32)


def roc_auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties counting one half."""
    diff = positive[:, None] - negative[None, :]
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


def rates(positive: np.ndarray, negative: np.ndarray, threshold: float) -> dict[str, float]:
    """Accuracy, precision and recall of ``score >= threshold`` as "vocal"."""
    tp, fn = int((positive >= threshold).sum()), int((positive < threshold).sum())
    fp, tn = int((negative >= threshold).sum()), int((negative < threshold).sum())
    return {
        "accuracy": (tp + tn) / (tp + tn + fp + fn),
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "recall": tp / (tp + fn),
    }


def equal_error(positive: np.ndarray, negative: np.ndarray) -> float:
    """The threshold where the miss rate of ``positive`` (below it) meets the false-alarm
    rate of ``negative`` (at or above it): among the midpoints between consecutive
    distinct scores, the one minimising the gap between the two rates (then the larger
    balanced accuracy, then the lower threshold)."""
    positive, negative = np.asarray(positive, float), np.asarray(negative, float)
    if not positive.size or not negative.size:
        raise ValueError("need scores of both classes")
    if np.isnan(positive).any() or np.isnan(negative).any():
        raise ValueError("scores must not be NaN")
    values = np.unique(np.concatenate([positive, negative]))
    candidates = (values[:-1] + values[1:]) / 2 if values.size > 1 else values
    best = None
    for t in candidates:
        miss, false = float((positive < t).mean()), float((negative >= t).mean())
        key = (abs(miss - false), miss + false, t)
        best = key if best is None or key < best else best
    return float(best[2])


def both_filters(positive: np.ndarray, negative: np.ndarray, threshold: float) -> dict:
    """Precision and recall of ``vocals=true`` (``score >= threshold`` keeps the vocal
    tracks) and of ``vocals=false`` (``score < threshold`` keeps the instrumental ones)."""
    tp, fn = int((positive >= threshold).sum()), int((positive < threshold).sum())
    fp, tn = int((negative >= threshold).sum()), int((negative < threshold).sum())
    ratio = lambda a, b: a / b if b else float("nan")  # noqa: E731
    return {
        "true_precision": ratio(tp, tp + fp),
        "true_recall": ratio(tp, tp + fn),
        "false_precision": ratio(tn, tn + fn),
        "false_recall": ratio(tn, tn + fp),
    }


def scored_set(
    n: int, duration_s: float, levels: list[float], seed: int, voices: list[np.ndarray]
) -> tuple[np.ndarray, dict[float, np.ndarray]]:
    """Vocals scores of ``n`` instrumental songs (seeds ``seed + i``) and, per voice
    level, of ``n`` other songs (seeds ``seed + 1000 + i``) under ``voices[i]``."""
    negative = np.array(
        [soundtrack_tags(instrumental(seed + i, duration_s)).vocal_score for i in range(n)]
    )
    positive = {
        level: np.array(
            [
                soundtrack_tags(
                    with_voice(instrumental(seed + 1000 + i, duration_s), voices[i], level)
                ).vocal_score
                for i in range(n)
            ]
        )
        for level in levels
    }
    return negative, positive


def voices_for(n: int, shift: int) -> list[np.ndarray]:
    """``n`` rendered voices, the ``i``-th saying sentence ``i + shift`` in voice
    ``i + 2 * shift`` (both lists cycled)."""
    with tempfile.TemporaryDirectory() as tmp:
        return [
            render_voice(
                SENTENCES[(i + shift) % len(SENTENCES)],
                *VOICES[(i + 2 * shift) % len(VOICES)],
                Path(tmp),
            )
            for i in range(n)
        ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20, help="tracks per class")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per track")
    parser.add_argument("--levels", type=float, nargs="+", default=[0.0, -10.0])
    parser.add_argument(
        "--fit", action="store_true", help="fit the threshold here, measure it on a second set"
    )
    args = parser.parse_args(argv)
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng is not installed (apt-get install espeak-ng)")

    negative, positive = scored_set(args.n, args.duration, args.levels, 0, voices_for(args.n, 0))
    print(f"{args.n} instrumental + {args.n} vocal generated tracks of {args.duration:g} s; "
          f"vocals=true when the score >= {VOCALS_THRESHOLD}")  # fmt: skip
    print(f"instrumental scores: median {np.median(negative):.3f}, max {negative.max():.3f}")
    print(f"{'voice dB':>8} {'AUC':>6} {'accuracy':>9} {'precision':>10} {'recall':>7} "
          f"{'median vocal score':>19}")  # fmt: skip
    for level in args.levels:
        r = rates(positive[level], negative, VOCALS_THRESHOLD)
        print(f"{level:>8g} {roc_auc(positive[level], negative):>6.3f} {r['accuracy']:>9.3f} "
              f"{r['precision']:>10.3f} {r['recall']:>7.3f} "
              f"{np.median(positive[level]):>19.3f}")  # fmt: skip
    if not args.fit:
        return
    voiced = np.concatenate([positive[level] for level in args.levels])
    threshold = equal_error(voiced, negative)
    print(f"\nthreshold fitted on this set (equal-error point, all levels): {threshold:.3f}")
    test_negative, test_positive = scored_set(
        args.n, args.duration, args.levels, 5000, voices_for(args.n, 1)
    )
    print(f"measured on a second set (song seeds 5000+, other voice/sentence pairs): "
          f"instrumental median {np.median(test_negative):.3f}")  # fmt: skip
    print(f"{'voice dB':>8} {'true P':>7} {'true R':>7} {'false P':>8} {'false R':>8}")
    rows = [(f"{level:g}", test_positive[level]) for level in args.levels]
    rows.append(("all", np.concatenate([test_positive[level] for level in args.levels])))
    for name, scores in rows:
        r = both_filters(scores, test_negative, threshold)
        print(f"{name:>8} {r['true_precision']:>7.3f} {r['true_recall']:>7.3f} "
              f"{r['false_precision']:>8.3f} {r['false_recall']:>8.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
