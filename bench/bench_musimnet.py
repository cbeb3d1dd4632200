"""Benchmark: MuSimNet on synthetic tagged music, and the three mining strategies.

The tracks are the soundtracks of :mod:`ml.synth` clips (rendered at 44.1 kHz, no
video), and their tags are the ones the generator derives from each clip's style
(genre, mood, tempo class, mode, metre, instruments, with weights). S is the weighted
Jaccard of those tags (:func:`ml.similarity.tags.tag_similarity`). The tracks are split
into train / validation / test; one MuSimNet is trained per mining strategy
(neighbours, uniform, distance-based) with the same seed, data and budget, and each is
scored on the test tracks with MAP@20, Recall@20, RR@20 and nDCG@20 (docs/method.md §6).
Baselines measured in the same run: a random ranking (mean of 100 draws) and the same
network untrained (random weights, fitted input statistics). Ratios are against the
untrained network.

    python -m bench.bench_musimnet [--tracks 240] [--epochs 6] [--device auto]
                                   [--variant autopool] [--width 8]
                                   [--work var/musimnet] [--results bench/results]

The defaults fit a 2-core CPU in about half an hour (one batch of 42 triplets costs
about 2.7 s at width 8 and 6.9 s at width 16 there); the log-CQTs are cached in
``--work`` so a second run starts training at once.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from ml.features.cqt import SAMPLE_RATE, log_cqt
from ml.metrics.similarity import evaluate_similarity
from ml.models.musimnet import MuSimNet, MuSimNetConfig, embed_tracks, input_statistics
from ml.similarity.mining import MINING_STRATEGIES, MiningConfig
from ml.synth.clip import ClipSpec, generate_clip
from ml.training.musimnet import MuSimNetTrainConfig, TaggedTracks, train_musimnet

METRICS = ("map_at_k", "recall_at_k", "rr_at_k", "ndcg_at_k")


def synthetic_tagged_tracks(
    n_tracks: int, seed: int
) -> tuple[list[np.ndarray], list[dict[str, float]]]:
    """Log-CQTs and weighted tags of ``n_tracks`` synthetic soundtracks."""
    spec = ClipSpec(sr=SAMPLE_RATE)
    cqts, tags = [], []
    for i in range(n_tracks):
        clip = generate_clip(seed + i, spec)
        cqts.append(log_cqt(clip.audio, SAMPLE_RATE))
        tags.append(dict(clip.truth.tags))
    return cqts, tags


def cached_tagged_tracks(
    n_tracks: int, seed: int, work: Path | None
) -> tuple[list[np.ndarray], list[dict[str, float]]]:
    """:func:`synthetic_tagged_tracks`, kept in ``work`` (one ``.npz`` per size and seed)."""
    if work is None:
        return synthetic_tagged_tracks(n_tracks, seed)
    path = work / f"tracks-{n_tracks}-seed{seed}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as stored:
            cqts = [stored[f"cqt{i}"] for i in range(n_tracks)]
            tags = json.loads(str(stored["tags"]))
        return cqts, tags
    cqts, tags = synthetic_tagged_tracks(n_tracks, seed)
    work.mkdir(parents=True, exist_ok=True)
    arrays = {f"cqt{i}": c for i, c in enumerate(cqts)}
    np.savez(path.with_suffix(".tmp.npz"), tags=json.dumps(tags), **arrays)
    path.with_suffix(".tmp.npz").replace(path)
    return cqts, tags


def markdown(results: dict[str, np.ndarray], setup: dict[str, str]) -> str:
    lines = [
        "# MuSimNet on synthetic tagged music: mining strategies against baselines",
        "",
        f"Produced by `python -m bench.bench_musimnet {setup['command']}`. {setup['setup']}",
        "Scores in % (k = 20, the 5 most similar tracks by S are the relevant ones).",
        "",
        "| system | MAP@20 | Recall@20 | RR@20 | nDCG@20 | nDCG vs untrained |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, values in results.items():
        cells = " | ".join(f"{100 * v:.1f}" for v in values)
        lines.append(f"| {name} | {cells} | {values[3] / results['untrained'][3]:.2f}x |")
    return "\n".join(lines) + "\n"


def scores_of(distances: np.ndarray, similarity: np.ndarray) -> np.ndarray:
    s = evaluate_similarity(distances, similarity, k=20, n_relevant=5)
    return np.array([getattr(s, m) for m in METRICS])


def model_scores(model: MuSimNet, tracks: TaggedTracks) -> np.ndarray:
    e = embed_tracks(model, tracks.cqts).astype(np.float64)
    sq = (e**2).sum(axis=1)
    return scores_of(sq[:, None] - 2 * e @ e.T + sq[None, :], tracks.similarity_matrix())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracks", type=int, default=240)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--triplets-per-epoch", type=int, default=1260)
    parser.add_argument("--variant", default="autopool", choices=("autopool", "vgg"))
    parser.add_argument(
        "--width", type=int, default=8, help="filters of the first block (doubling)"
    )
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, help="cache the log-CQTs here")
    parser.add_argument("--results", type=Path, help="write musimnet.md and .json here")
    args = parser.parse_args()

    t0 = time.perf_counter()
    cqts, tags = cached_tagged_tracks(args.tracks, 10_000 + args.seed, args.work)
    n_train, n_val = int(0.6 * args.tracks), int(0.15 * args.tracks)
    train = TaggedTracks(cqts[:n_train], tags[:n_train])
    validation = TaggedTracks(cqts[n_train : n_train + n_val], tags[n_train : n_train + n_val])
    test = TaggedTracks(cqts[n_train + n_val :], tags[n_train + n_val :])
    print(
        f"data: {args.tracks} tracks ({len(train)}/{len(validation)}/{len(test)}) in {time.perf_counter() - t0:.0f} s"
    )

    if len(test) <= 21:
        print("warning: with 21 test tracks or fewer, a list cut at 20 holds (nearly) all of them")
    filters = tuple(args.width * 2**i for i in range(5))
    model_config = MuSimNetConfig(args.variant, filters=filters)
    similarity = test.similarity_matrix()
    rng = np.random.default_rng(args.seed)
    results: dict[str, np.ndarray] = {
        "random": np.mean(
            [scores_of(rng.random((len(test),) * 2), similarity) for _ in range(100)], axis=0
        )
    }
    torch.manual_seed(args.seed)
    untrained = MuSimNet(model_config)
    untrained.set_input_statistics(*input_statistics(train.cqts))
    results["untrained"] = model_scores(untrained, test)

    timings = {}
    for strategy in MINING_STRATEGIES:
        t0 = time.perf_counter()
        checkpoint = train_musimnet(
            MuSimNetTrainConfig(
                train=train,
                validation=validation,
                model=model_config,
                mining=MiningConfig(strategy, n_positives=15, n_negatives=250, seed=args.seed),
                learning_rate=args.learning_rate,
                triplets_per_epoch=args.triplets_per_epoch,
                max_epochs=args.epochs,
                patience=3,
                monitor="val_ndcg",
                validation_triplets=500,
                seed=args.seed,
                device=args.device,
                progress=False,
            )
        )
        timings[strategy] = time.perf_counter() - t0
        results[f"trained ({strategy})"] = model_scores(checkpoint.model, test)
        print(
            f"{strategy}: best epoch {checkpoint.best_epoch} of {len(checkpoint.history)}, {timings[strategy]:.0f} s",
            flush=True,
        )

    setup = {
        "command": f"--tracks {args.tracks} --epochs {args.epochs} --triplets-per-epoch "
        f"{args.triplets_per_epoch} --variant {args.variant} --width {args.width} "
        f"--learning-rate {args.learning_rate:g} --seed {args.seed}",
        "setup": f"MuSimNet {args.variant}, filters {filters}; {len(train)} / {len(validation)} / "
        f"{len(test)} train / validation / test tracks; the same seed, data and budget for each "
        f"mining strategy (Np = 15, Nn = 250, early stop on the validation nDCG@20); training "
        f"time per strategy (s): {json.dumps({k: round(v) for k, v in timings.items()})}.",
    }
    text = markdown(results, setup)
    print("\n" + text)
    if args.results:
        args.results.mkdir(parents=True, exist_ok=True)
        (args.results / "musimnet.md").write_text(text)
        payload = {
            "setup": setup,
            "metrics": list(METRICS),
            "systems": {k: v.tolist() for k, v in results.items()},
        }
        (args.results / "musimnet.json").write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
