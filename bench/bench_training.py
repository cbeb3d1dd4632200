"""Benchmark: training Seg-VM-Net / VM-Net, and serving its branches with ONNX Runtime.

Two parts, each reported against a baseline measured in the same run:

* **retrieval** -- train on a dataset, then rank the test split: every test video
  (its segments through the video branch) against every test track (music branch),
  by the centroid of the segment embeddings (clip level) and per segment. Reported
  as mean rank / catalog size (chance 0.5) for the trained model against the same
  architecture untrained (random weights, fitted input normalisation), plus
  Recall@1/10. The dataset is the latent paired dataset of
  :mod:`ml.data.latent_pairs` (a known shared cause, no media) by default, or one
  built from a folder of music videos with ``--videos`` (e.g. a synthetic corpus
  from :mod:`ml.synth`).
* **inference** -- embeddings per second for the music branch, PyTorch (eval mode,
  no grad) against the exported ONNX file in ONNX Runtime (CPU provider), same
  inputs, same threads; and the largest absolute difference between the two.

    python -m bench.bench_training [--clips 200] [--epochs 8] [--kind segvmnet] [--work DIR]
                                   [--videos DIR --segmentation olda] [--device auto]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ml.data.clips import BuildConfig, build_dataset
from ml.data.dataset import load_dataset
from ml.data.latent_pairs import write_latent_paired_dataset
from ml.export import OnnxEncoder, export_checkpoint
from ml.models.vmnet import TwoBranchNet
from ml.training.checkpoint import load_model
from ml.training.config import TrainConfig
from ml.training.metrics import paired_retrieval_ranks, retrieval_summary
from ml.training.trainer import model_config_for, train


def _clip_level_ranks(model: TwoBranchNet, dataset, split: str) -> tuple[dict, dict]:
    pairs = dataset.segment_pairs(split)
    model.eval()
    with torch.no_grad():
        music = model.embed_music(torch.from_numpy(pairs.music))
        video = model.embed_video(torch.from_numpy(pairs.video))
    index = torch.from_numpy(pairs.clip_index)
    n = len(pairs.clip_ids)

    def centroid(e):
        return torch.stack([e[index == c].mean(0) for c in range(n)])

    clips = retrieval_summary(paired_retrieval_ranks(centroid(video), centroid(music)))
    segments = retrieval_summary(paired_retrieval_ranks(video, music))
    return clips, segments


def _throughput(fn, x: np.ndarray, repeats: int) -> float:
    fn(x)  # warm-up
    began = time.perf_counter()
    for _ in range(repeats):
        fn(x)
    return repeats * len(x) / (time.perf_counter() - began)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=200, help="latent dataset size")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--kind", default="segvmnet", choices=("segvmnet", "vmnet"))
    parser.add_argument("--videos", type=Path, help="build the dataset from this folder instead")
    parser.add_argument("--segmentation", default="olda")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch", type=int, default=4096, help="inference batch size")
    parser.add_argument(
        "--work", type=Path, help="keep the dataset (and its feature cache) here between runs"
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = (args.work or work) / "data"
        began = time.perf_counter()
        if args.videos:
            build_dataset(
                BuildConfig(
                    args.videos,
                    data,
                    segmentation=args.segmentation,
                    split_fractions=(0.7, 0.1, 0.2),
                )
            )
        else:
            write_latent_paired_dataset(
                data, n_clips=args.clips, seed=0, split_fractions=(0.7, 0.1, 0.2)
            )
        dataset = load_dataset(data)
        print(
            f"dataset: {len(dataset.manifest.clips)} clips, "
            f"{len(dataset.segment_pairs('train'))} training segments "
            f"({time.perf_counter() - began:.1f} s)"
        )

        config = TrainConfig(
            args.kind,
            data,
            work / "run",
            recipe="triplet",
            max_epochs=args.epochs,
            patience=8,
            device=args.device,
            progress=False,
        )
        began = time.perf_counter()
        best = train(config)
        seconds = time.perf_counter() - began
        log = [
            json.loads(line) for line in (work / "run" / "metrics.jsonl").read_text().splitlines()
        ]
        print(
            f"training: {len(log)} epochs in {seconds:.1f} s ({seconds / len(log):.2f} s/epoch), "
            f"best epoch {log[-1]['best_epoch']}, "
            f"train loss {log[0]['train_loss']:.4f} -> {log[-1]['train_loss']:.4f}"
        )

        trained = load_model(best)
        torch.manual_seed(0)
        untrained = TwoBranchNet(
            model_config_for(config, trained.config.music.input_dim, trained.config.video.input_dim)
        )
        train_pairs = dataset.segment_pairs("train")
        untrained.fit_normalization(train_pairs.music, train_pairs.video)
        n_test = len(dataset.clip_ids("test"))
        print(f"\nretrieval on {n_test} test clips (mean rank / catalog; chance 0.5)")
        print(f"{'model':<10} {'clip rank':>10} {'R@1':>6} {'R@10':>6} {'segment rank':>13}")
        rows = {}
        for name, model in (("untrained", untrained), ("trained", trained)):
            clips, segments = _clip_level_ranks(model, dataset, "test")
            rows[name] = clips["mean_rank_fraction"]
            print(
                f"{name:<10} {clips['mean_rank_fraction']:>10.3f} {clips['recall_at_1']:>6.2f} "
                f"{clips['recall_at_10']:>6.2f} {segments['mean_rank_fraction']:>13.3f}"
            )
        print(f"trained / untrained clip mean rank: {rows['trained'] / rows['untrained']:.3f}")

        registry = export_checkpoint(best, work / "model")
        encoder = OnnxEncoder(registry.parent / "music.onnx", device="cpu")
        rng = np.random.default_rng(0)
        x = train_pairs.music[rng.integers(0, len(train_pairs), size=args.batch)]
        with torch.no_grad():

            def torch_fn(a):
                return trained.embed_music(torch.from_numpy(a)).numpy()

            torch_rate = _throughput(torch_fn, x, repeats=5)
            onnx_rate = _throughput(encoder.embed, x, repeats=5)
            diff = float(np.abs(torch_fn(x) - encoder.embed(x)).max())
        print(f"\ninference, music branch, batch {args.batch}, {torch.get_num_threads()} threads")
        print(f"PyTorch      {torch_rate:>12,.0f} segments/s")
        print(
            f"ONNX Runtime {onnx_rate:>12,.0f} segments/s  ({onnx_rate / torch_rate:.2f}x PyTorch)"
        )
        print(f"max |ONNX - PyTorch| = {diff:.2e}")


if __name__ == "__main__":
    main()
