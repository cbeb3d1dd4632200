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
tags of each track (averaged over its patches) to show they make sense.

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

import numpy as np

from ml.features.musicnn.extractor import (
    MODEL_NAMES,
    PATCH_FRAMES,
    SAMPLE_RATE,
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--audio", nargs="*", help="audio files (default: 3 wesnoth-music tracks)")
    parser.add_argument("--seconds", type=float, default=30.0, help="analyse the first N seconds")
    parser.add_argument("--venv", type=Path, default=default_venv(), help="reference virtualenv")
    parser.add_argument("--models", nargs="*", default=list(MODEL_NAMES), choices=MODEL_NAMES)
    args = parser.parse_args(argv)

    python = ensure_reference_env(args.venv)
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="musicnn-parity-") as tmp:
        workdir = Path(tmp)
        for model in args.models:
            package_parent = Path(musicnn_checkpoint_prefix(model)).parent.parent
            onnx_model = MusicnnModel(model, backend="onnx", cache_dir=workdir / "onnx")
            torch_model = MusicnnModel(model, backend="torch")
            print(f"\n== {model} ==")
            for track in pick_tracks(args.audio):
                y = load_audio(track, SAMPLE_RATE, max_duration_s=None)[: int(args.seconds * SAMPLE_RATE)]
                log_mel = log_mel_spectrogram(y)
                patches = original_patches(log_mel)
                t0 = time.perf_counter()
                ref_tags, ref_feats, versions = run_reference(python, package_parent, model, patches, workdir)
                t_ref = time.perf_counter() - t0
                t0 = time.perf_counter()
                onnx_tags, onnx_feats = onnx_model.predict(patches)
                t_onnx = time.perf_counter() - t0
                torch_tags, torch_feats = torch_model.predict(patches)
                diffs = {
                    "onnx taggram": np.abs(onnx_tags - ref_tags).max(),
                    "onnx penultimate": np.abs(onnx_feats - ref_feats).max(),
                    "torch taggram": np.abs(torch_tags - ref_tags).max(),
                    "torch penultimate": np.abs(torch_feats - ref_feats).max(),
                }
                worst = max(worst, *diffs.values())
                mean_tags = onnx_tags.mean(axis=0)
                top = ", ".join(
                    f"{onnx_model.tags[i]} {mean_tags[i]:.2f}" for i in np.argsort(-mean_tags)[:5]
                )
                print(f"{track.name}: {len(patches)} patches of 3 s; "
                      f"TF {versions['tensorflow']} {t_ref:.1f} s (incl. start-up), ONNX {t_onnx:.2f} s")  # fmt: skip
                print("  max |ours - original|: " + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()))
                print(f"  penultimate range [{ref_feats.min():.2f}, {ref_feats.max():.2f}]; top tags: {top}")
    verdict = "PASS" if worst <= TOLERANCE else "FAIL"
    print(f"\nworst max abs difference {worst:.2e} (target <= {TOLERANCE:.0e}): {verdict}")
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    raise SystemExit(main())
