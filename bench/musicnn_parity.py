"""Parity of the PyTorch/ONNX MusiCNN port with the original TensorFlow model.

The product never imports TensorFlow. This bench builds a separate reference
environment (a virtualenv outside the repository, by default
``~/.cache/v2m/musicnn-parity-venv``, with the pins of
``bench/musicnn_parity_requirements.txt``) and runs there the *original* model
code of the installed ``musicnn`` wheel (``musicnn.models.define_model`` under
``tf.compat.v1``, weights restored by ``tf.train.Saver`` from the same
checkpoint). Both sides receive the same log-mel patches
(``ml.features.musicnn.extractor.log_mel_spectrogram``, the original's
preprocessing), cut as the original tool cuts them (non-overlapping 3 s
patches), and the bench reports, per model and track, the largest absolute
difference of the taggrams and of the 200-d penultimate features, for the ONNX
export and the PyTorch module. The target is <= 1e-3. It also prints the top
tags of each track (averaged over its patches) to show they make sense, how
often the original's float16 preprocessing overflows on these tracks, and the
extractor's cost per minute of audio (ONNX Runtime against PyTorch, same run).

The music is real: tracks of the Debian package ``wesnoth-music`` (orchestral
game music) when installed, or any files given with ``--audio``.

    python -m bench.musicnn_parity [--audio FILE ...] [--seconds 30] [--venv DIR]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import librosa
import numpy as np

from ml.features.musicnn.extractor import (
    MODEL_NAMES,
    PATCH_FRAMES,
    SAMPLE_RATE,
    MusicnnAudio,
    MusicnnModel,
    log_mel_spectrogram,
    musicnn_checkpoint_prefix,
)
from ml.media.decode import load_audio

DEBIAN_MUSIC_GLOB = "/usr/share/games/wesnoth/*/data/core/music/*.ogg"
# Contrasting pieces when available: battle music, a calm theme, a dark one.
PREFERRED_TRACKS = ("battle.ogg", "elvish-theme.ogg", "suspense.ogg")
REQUIREMENTS = Path(__file__).with_name("musicnn_parity_requirements.txt")
TOLERANCE = 1e-3

# Runs in the reference environment: the wheel's own model code, unmodified.
REFERENCE_SCRIPT = r"""
import json, os, sys
import numpy as np
import tensorflow as tf

tf.compat.v1.disable_eager_execution()
package_parent, model_name, patches_path, out_path = sys.argv[1:5]
sys.path.insert(0, package_parent)
from musicnn import models  # the original build_musicnn

patches = np.load(patches_path)
tf.compat.v1.reset_default_graph()
with tf.name_scope("model"):
    x = tf.compat.v1.placeholder(tf.float32, [None, patches.shape[1], 96])
    is_training = tf.compat.v1.placeholder(tf.bool)
    outputs = models.define_model(x, is_training, model_name, 50)
    logits, penultimate = outputs[0], outputs[-1]
    taggram = tf.nn.sigmoid(logits)
with tf.compat.v1.Session() as sess:
    sess.run(tf.compat.v1.global_variables_initializer())
    tf.compat.v1.train.Saver().restore(sess, os.path.join(package_parent, "musicnn", model_name) + "/")
    tags, feats = sess.run([taggram, penultimate], feed_dict={x: patches, is_training: False})
np.savez(out_path, taggram=tags, penultimate=feats)
print(json.dumps({"tensorflow": tf.__version__, "numpy": np.__version__}))
"""


def default_venv() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "v2m" / "musicnn-parity-venv"


def ensure_reference_env(venv: Path) -> Path:
    """The reference environment's interpreter, creating the virtualenv if needed."""
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import tensorflow"]
    if python.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return python
    print(f"creating the TensorFlow reference environment in {venv} (a few minutes) ...")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)], check=True)
    return python


def original_patches(log_mel: np.ndarray) -> np.ndarray:
    """Non-overlapping 187-frame patches, as ``musicnn.extractor.batch_data``."""
    starts = range(0, log_mel.shape[0] - PATCH_FRAMES + 1, PATCH_FRAMES)
    return np.stack([log_mel[s : s + PATCH_FRAMES] for s in starts])


def run_reference(python: Path, package_parent: Path, model: str, patches: np.ndarray,
                  workdir: Path) -> tuple[np.ndarray, np.ndarray, dict]:  # fmt: skip
    """Taggram and penultimate features of the original TensorFlow model."""
    script, inputs, outputs = workdir / "reference.py", workdir / "patches.npy", workdir / "out.npz"
    script.write_text(REFERENCE_SCRIPT)
    np.save(inputs, patches)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    done = subprocess.run(
        [str(python), str(script), str(package_parent), model, str(inputs), str(outputs)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"reference run failed:\n{done.stderr[-3000:]}")
    result = np.load(outputs)
    versions = json.loads(done.stdout.strip().splitlines()[-1])
    return result["taggram"], result["penultimate"], versions


def pick_tracks(paths: list[str] | None) -> list[Path]:
    if paths:
        return [Path(p) for p in paths]
    found = sorted(glob.glob(DEBIAN_MUSIC_GLOB))
    if not found:
        sys.exit("no audio: install the Debian package wesnoth-music or pass --audio FILE ...")
    preferred = [p for name in PREFERRED_TRACKS for p in found if p.endswith("/" + name)]
    return [Path(p) for p in (preferred if len(preferred) == 3 else found[:3])]


def float16_overflow_fraction(y: np.ndarray) -> float:
    """Share of log-mel bins where the original's float16 ``10000 * x`` overflows
    (and its model output turns NaN); ours evaluates those bins in float32."""
    mel = librosa.feature.melspectrogram(
        y=y, sr=SAMPLE_RATE, n_fft=512, hop_length=256, n_mels=96, pad_mode="reflect"
    )
    return float(np.mean(mel.astype(np.float16) > np.finfo(np.float16).max / 10000))


def compare(args: argparse.Namespace, python: Path, tracks: dict[str, np.ndarray],
            workdir: Path) -> float:  # fmt: skip
    """Print the parity report for each model and track; return the worst difference."""
    worst = 0.0
    for model in args.models:
        package_parent = Path(musicnn_checkpoint_prefix(model)).parent.parent
        onnx_model = MusicnnModel(model, backend="onnx", cache_dir=workdir / "onnx")
        torch_model = MusicnnModel(model, backend="torch")
        per_track = {name: original_patches(log_mel_spectrogram(y)) for name, y in tracks.items()}
        patches = np.concatenate(list(per_track.values()))
        t0 = time.perf_counter()
        ref_tags, ref_feats, versions = run_reference(
            python, package_parent, model, patches, workdir
        )
        t_ref = time.perf_counter() - t0
        onnx_tags, onnx_feats = onnx_model.predict(patches)
        torch_tags, torch_feats = torch_model.predict(patches)
        print(f"\n== {model}: TensorFlow {versions['tensorflow']} (NumPy {versions['numpy']}), "
              f"{len(patches)} patches in {t_ref:.1f} s incl. start-up ==")  # fmt: skip
        bounds = np.cumsum([0] + [len(p) for p in per_track.values()])
        for name, lo, hi in zip(per_track, bounds[:-1], bounds[1:], strict=True):
            diffs = {
                "onnx taggram": np.abs(onnx_tags[lo:hi] - ref_tags[lo:hi]).max(),
                "onnx penultimate": np.abs(onnx_feats[lo:hi] - ref_feats[lo:hi]).max(),
                "torch taggram": np.abs(torch_tags[lo:hi] - ref_tags[lo:hi]).max(),
                "torch penultimate": np.abs(torch_feats[lo:hi] - ref_feats[lo:hi]).max(),
            }
            worst = max(worst, *diffs.values())
            mean_tags = ref_tags[lo:hi].mean(axis=0)
            ours = onnx_tags[lo:hi].mean(axis=0)
            top = ", ".join(f"{onnx_model.tags[i]} {mean_tags[i]:.2f}/{ours[i]:.2f}"
                            for i in np.argsort(-mean_tags)[:5])  # fmt: skip
            print(f"{name}: {hi - lo} patches of 3 s")
            print("  max |ours - original|: " + ", ".join(f"{k} {v:.1e}" for k, v in diffs.items()))
            print(f"  top tags (original/ours): {top}")
    return worst


def extraction_cost(y: np.ndarray) -> None:
    """Seconds per minute of audio of the 1 Hz extractor, ONNX Runtime vs PyTorch."""
    minutes = y.size / SAMPLE_RATE / 60
    timings = {}
    for backend in ("torch", "onnx"):
        extractor = MusicnnAudio(MusicnnModel("MSD_musicnn", backend=backend))
        extractor.extract(y[: 5 * SAMPLE_RATE], SAMPLE_RATE)  # warm-up (ONNX export/session)
        wall, cpu = time.perf_counter(), time.process_time()
        features = extractor.extract(y, SAMPLE_RATE)
        timings[backend] = (time.perf_counter() - wall, time.process_time() - cpu)
    print(f"\n== extraction cost, {features.shape[0]} patches of 3 s at 1 Hz ==")
    for backend, (wall, cpu) in timings.items():
        print(
            f"{backend:>5}: {wall / minutes:.1f} s wall, {cpu / minutes:.1f} s CPU per minute of audio"
        )
    print(
        f"ONNX Runtime speed-up over PyTorch (wall): {timings['torch'][0] / timings['onnx'][0]:.2f}x"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--audio", nargs="*", help="audio files (default: 3 wesnoth-music tracks)")
    parser.add_argument("--seconds", type=float, default=30.0, help="analyse the first N seconds")
    parser.add_argument("--venv", type=Path, default=default_venv(), help="reference virtualenv")
    parser.add_argument("--models", nargs="*", default=list(MODEL_NAMES), choices=MODEL_NAMES)
    args = parser.parse_args(argv)

    python = ensure_reference_env(args.venv)
    n = int(args.seconds * SAMPLE_RATE)
    tracks = {p.name: load_audio(p, SAMPLE_RATE)[:n] for p in pick_tracks(args.audio)}
    for name, y in tracks.items():
        share = float16_overflow_fraction(y)
        print(f"{name}: {y.size / SAMPLE_RATE:.0f} s; original float16 log-mel overflows "
              f"in {100 * share:.2f} % of bins")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="musicnn-parity-") as tmp:
        worst = compare(args, python, tracks, Path(tmp))
    extraction_cost(next(iter(tracks.values())))
    verdict = "PASS" if worst <= TOLERANCE else "FAIL"
    print(f"\nworst max abs difference {worst:.1e} (target <= {TOLERANCE:.0e}): {verdict}")
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    raise SystemExit(main())
