"""Benchmark: every GPU path of the project against its CPU path, in one run.

Each part does the same work on the CPU and on ``--device`` (CUDA by default) in the
same process, and prints how far the results agree and the speed ratio:

* **shots** -- :class:`ml.media.shots.ShotDetector` (TransNetV2 with its frame
  embeddings from the same pass) on a synthetic video with hard cuts, or on frames
  decoded ahead (``--frames``, an ``.npy`` of ``(n, 27, 48, 3)`` uint8): identical
  boundaries, largest probability and embedding differences, frames per second, and
  on CUDA the cost of full float32 (:mod:`ml.precision`) against TF32;
* **training** -- Seg-VM-Net epochs on the latent paired dataset of
  :mod:`ml.data.latent_pairs`, sized like the largest training set of the README
  (1,360 clips, 324-d music, 45-d video features), same seed on both devices: time
  per epoch, and the training loss and validation rank after the last epoch;
* **inference** -- the trained music branch in PyTorch on both devices and in ONNX
  Runtime with the CPU provider and, when the installed build has it, the CUDA
  provider (:class:`ml.export.OnnxEncoder`): embeddings per second and differences;
* **musicnn** -- the PyTorch port of MusiCNN (:class:`MusicnnModel`, torch backend) on
  both devices: taggram and penultimate-layer differences, patches per second, and
  the cost of full float32 against TF32;
* **faiss** -- whether the installed FAISS sees a GPU (the centroid index uses it then).

A part whose package or device is missing says so and is skipped; the CPU fallbacks
themselves are covered by the test suite. ``--device cpu`` runs everything against
the CPU twice, a quick check of this script on a machine without a GPU.

    python -m bench.bench_gpu [--seconds 120] [--clips 1360] [--epochs 10] [--frames F.npy]
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

CPU = "cpu"


def _best_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Shortest wall time of ``repeats`` calls (after one warm-up call) and the last result."""
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        out = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - began)
    return best, out


def _max_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())


@contextmanager
def _tf32_allowed() -> Iterator[None]:
    """PyTorch's default for convolutions, which :mod:`ml.precision` turns off."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def _tf32_cost(run: Callable[[], Any], seconds: float, repeats: int) -> tuple[float, Any]:
    """Time ``run`` with TF32 allowed; return (full-float32 time / TF32 time, its result)."""
    with _tf32_allowed():
        tf32_seconds, result = _best_time(run, repeats)
    return seconds / tf32_seconds, result


def report_environment(device: str) -> None:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        print(
            f"CUDA {torch.version.cuda}: {props.name}, {props.total_memory / 2**30:.0f} GiB, "
            f"{props.multi_processor_count} SMs"
        )
    else:
        print("CUDA: not available")
    if importlib.util.find_spec("onnxruntime"):
        import onnxruntime as ort

        print(f"onnxruntime {ort.__version__}: providers {ort.get_available_providers()}")
    print(f"comparing {device!r} against the CPU\n")


def load_frames(path: Path | None, seconds: float) -> np.ndarray:
    """48x27 frames at 25 fps: from ``path`` or from a synthetic video with hard cuts."""
    if path is not None:
        return np.load(path)
    from ml.media.decode import load_video_frames
    from ml.synth.shot_video import write_shot_video

    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "shots.mp4"
        write_shot_video(video, seconds, 25.0, seed=7)
        return load_video_frames(video, None, 48, 27)


def check_shots(frames: np.ndarray, device: str, repeats: int) -> dict[str, float]:
    from ml.media.shots import ShotDetector

    seconds = len(frames) / 25.0
    results, timings = {}, {}
    for name in (CPU, device):
        detector = ShotDetector(device=name)
        timings[name], results[name] = _best_time(
            lambda d=detector: d.detect(frames, return_features=True), repeats
        )
    cpu, other = results[CPU], results[device]
    same = np.array_equal(cpu.boundaries, other.boundaries)
    row = {
        "cpu_frames_per_s": len(frames) / timings[CPU],
        "device_frames_per_s": len(frames) / timings[device],
        "speedup": timings[CPU] / timings[device],
        "max_probability_diff": _max_abs(cpu.probabilities, other.probabilities),
        "max_embedding_diff": _max_abs(cpu.embeddings, other.embeddings),
        "identical_boundaries": float(same),
    }
    print(
        f"shots: {len(frames)} frames ({seconds:.0f} s), {len(cpu.boundaries)} boundaries, "
        f"identical on both devices: {'yes' if same else 'NO'}"
    )
    for name in (CPU, device):
        print(
            f"  {name:<5} {len(frames) / timings[name]:9.0f} frames/s "
            f"({60 * timings[name] / seconds:.2f} s per minute of video)"
        )
    print(
        f"  speed-up x{row['speedup']:.1f}; max |p_cpu - p_dev| {row['max_probability_diff']:.1e}, "
        f"max |emb_cpu - emb_dev| {row['max_embedding_diff']:.1e}"
    )
    if torch.device(device).type == "cuda":
        detector = ShotDetector(device=device)
        row["full_float32_cost"], tf32 = _tf32_cost(
            lambda: detector.detect(frames, return_features=True), timings[device], repeats
        )
        print(
            f"  with TF32: full float32 takes x{row['full_float32_cost']:.2f} the time; "
            f"TF32 max |p_cpu - p_tf32| {_max_abs(cpu.probabilities, tf32.probabilities):.1e}, "
            f"max |emb_cpu - emb_tf32| {_max_abs(cpu.embeddings, tf32.embeddings):.1e}"
        )
    print()
    return row


def _train(data: Path, out: Path, device: str, epochs: int) -> tuple[Path, float, dict]:
    from ml.training.config import TrainConfig
    from ml.training.trainer import train

    # patience = epochs: both devices run every epoch, so their times compare
    config = TrainConfig(
        "segvmnet",
        data,
        out,
        recipe="triplet",
        max_epochs=epochs,
        patience=epochs,
        device=device,
        progress=False,
        resume=False,
    )
    began = time.perf_counter()
    best = train(config)
    seconds = time.perf_counter() - began
    log = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return best, seconds / len(log), log[-1]


def check_training(work: Path, device: str, clips: int, epochs: int) -> tuple[Path, dict]:
    from ml.data.latent_pairs import write_latent_paired_dataset

    data = work / "data"
    write_latent_paired_dataset(
        data, n_clips=clips, music_dim=324, video_dim=45, split_fractions=(0.7, 0.1, 0.2), seed=0
    )
    runs = {name: _train(data, work / f"run-{name}", name, epochs) for name in (CPU, device)}
    print(f"training: Seg-VM-Net, {clips} latent clips (324-d music, 45-d video), {epochs} epochs")
    for name, (_, per_epoch, last) in runs.items():
        print(
            f"  {name:<5} {per_epoch:7.3f} s/epoch; last epoch: train loss "
            f"{last['train_loss']:.4f}, val mean rank {last['val_mean_rank']:.2f}"
        )
    speedup = runs[CPU][1] / runs[device][1]
    print(f"  speed-up x{speedup:.1f}\n")
    return runs[device][0], {
        "cpu_s_per_epoch": runs[CPU][1],
        "device_s_per_epoch": runs[device][1],
        "speedup": speedup,
    }


def check_inference(checkpoint: Path, work: Path, device: str, batch: int) -> dict[str, float]:
    import onnxruntime as ort

    from ml.export import OnnxEncoder, export_checkpoint
    from ml.training.checkpoint import load_model

    registry = export_checkpoint(checkpoint, work / "model")
    model = load_model(checkpoint).eval()
    x = np.random.default_rng(0).normal(size=(batch, model.config.music.input_dim))
    x = x.astype(np.float32)

    def torch_on(name: str) -> Callable[[], np.ndarray]:
        module, inputs = copy.deepcopy(model).to(name), torch.from_numpy(x).to(name)

        def run() -> np.ndarray:
            with torch.inference_mode():
                return module.embed_music(inputs).cpu().numpy()

        return run

    runners = {
        "torch cpu": torch_on(CPU),
        f"torch {device}": torch_on(device),
        "onnxruntime cpu": OnnxEncoder(registry.parent / "music.onnx", device=CPU).embed,
    }
    if "CUDAExecutionProvider" in ort.get_available_providers():
        cuda = OnnxEncoder(registry.parent / "music.onnx", device="cuda")
        runners["onnxruntime cuda"] = cuda.embed
    else:
        print("inference: this onnxruntime build has no CUDA provider: its GPU path is not run")
    results = {}
    print(f"inference: music branch, batch {batch}")
    for name, fn in runners.items():
        seconds, out = _best_time(fn if name.startswith("torch") else lambda f=fn: f(x), 5)
        results[name] = (seconds, out)
    reference_s, reference = results["torch cpu"]
    row = {}
    for name, (seconds, out) in results.items():
        row[name] = batch / seconds
        print(
            f"  {name:<18} {batch / seconds:12,.0f} segments/s  x{reference_s / seconds:5.1f}  "
            f"max |diff to torch cpu| {_max_abs(out, reference):.1e}"
        )
    print()
    return row


def check_musicnn(device: str, seconds: float, repeats: int) -> dict[str, float] | None:
    from ml.features.musicnn.extractor import (
        MusicnnModel,
        MusicnnWeightsNotFoundError,
        log_mel_spectrogram,
        patches_per_second,
    )

    try:
        models = {name: MusicnnModel(backend="torch", device=name) for name in (CPU, device)}
    except MusicnnWeightsNotFoundError as err:
        print(f"musicnn: skipped ({err})\n")
        return None
    # A chord with a pulse: enough texture for the tags to be non-trivial.
    sr = 16000
    t = np.arange(int(seconds * sr)) / sr
    y = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) / 3
    y *= 0.5 + 0.5 * (np.sin(2 * np.pi * 2.0 * t) > 0)
    log_mel = log_mel_spectrogram(y.astype(np.float32))
    patches = patches_per_second(log_mel, int(seconds))
    results, timings = {}, {}
    for name, model in models.items():
        timings[name], results[name] = _best_time(lambda m=model: m.predict(patches), repeats)
    (tags_cpu, pen_cpu), (tags_dev, pen_dev) = results[CPU], results[device]
    row = {
        "cpu_patches_per_s": len(patches) / timings[CPU],
        "device_patches_per_s": len(patches) / timings[device],
        "speedup": timings[CPU] / timings[device],
        "max_taggram_diff": _max_abs(tags_cpu, tags_dev),
        "max_penultimate_diff": _max_abs(pen_cpu, pen_dev),
    }
    print(f"musicnn: {len(patches)} patches of 3 s (PyTorch port)")
    for name in (CPU, device):
        print(f"  {name:<5} {len(patches) / timings[name]:9.1f} patches/s")
    print(
        f"  speed-up x{row['speedup']:.1f}; max taggram diff {row['max_taggram_diff']:.1e}, "
        f"max penultimate diff {row['max_penultimate_diff']:.1e}"
    )
    if torch.device(device).type == "cuda":
        # predict() turns TF32 off on every call: time the module itself instead
        module, x = models[device].torch_module(), torch.from_numpy(patches).to(device)

        def penultimate() -> np.ndarray:
            with torch.inference_mode():
                return module(x)[1].cpu().numpy()

        row["full_float32_cost"], tf32_penultimate = _tf32_cost(
            penultimate, timings[device], repeats
        )
        print(
            f"  with TF32: full float32 takes x{row['full_float32_cost']:.2f} the time; "
            f"TF32 max penultimate diff {_max_abs(pen_cpu, tf32_penultimate):.1e}"
        )
    print()
    return row


def report_faiss() -> None:
    if importlib.util.find_spec("faiss") is None:
        print("faiss: not installed here")
        return
    from app.index.centroids import gpu_available

    print(f"faiss: GPU index {'available' if gpu_available() else 'not available (CPU build)'}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="the device compared with the CPU")
    parser.add_argument("--seconds", type=float, default=120.0, help="synthetic video length")
    parser.add_argument("--frames", type=Path, help="decoded frames (.npy) instead of a video")
    parser.add_argument("--clips", type=int, default=1360, help="latent training clips")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch", type=int, default=16384, help="inference batch size")
    parser.add_argument("--repeats", type=int, default=3, help="best of N timed runs")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)

    report_environment(args.device)
    if args.device != CPU and not torch.cuda.is_available():
        print("no CUDA device: nothing to compare (the CPU paths are in the test suite)")
        return
    rows: dict[str, Any] = {}
    rows["shots"] = check_shots(load_frames(args.frames, args.seconds), args.device, args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint, rows["training"] = check_training(
            Path(tmp), args.device, args.clips, args.epochs
        )
        rows["inference"] = check_inference(checkpoint, Path(tmp), args.device, args.batch)
    rows["musicnn"] = check_musicnn(args.device, args.seconds, args.repeats)
    report_faiss()
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
