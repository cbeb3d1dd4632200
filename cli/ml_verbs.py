"""The model verbs of ``v2m``: train, evaluate, export (no database, no server).

    v2m train segvmnet|vmnet --videos DIR --work DIR [--segmentation olda] [--export OUT]
    v2m train segvmnet|vmnet --dataset DIR --work DIR     (a dataset built before)
    v2m train musimnet --tracks DIR --tags tags.csv --work DIR [--export OUT]
    v2m evaluate --dataset DIR --checkpoint best.pt [--baseline NAME=best.pt] [--out DIR]
    v2m export CHECKPOINT OUT [--name NAME]     (best.pt or musimnet_best.pt)

``--work`` holds everything a training run writes: the dataset (``work/dataset``,
with its cache of per-clip features) and the run (``work/run``: checkpoints and
``metrics.jsonl``). Run the same command again after an interruption: the dataset
builder skips the clips already done and training resumes from ``last.pt``, if it was
trained on the same data. When the data changed (videos added, removed or changed),
the old run moves to ``work/run/superseded.<data fingerprint>/`` and a new run starts.
The last line says which data the best model was trained on.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from app.services.costs import METHODS as QUERY_METHODS
from ml.features import DEFAULT_AUDIO_EXTRACTOR, DEFAULT_VIDEO_EXTRACTOR

__all__ = ["add_ml_verbs", "read_tags_csv"]

AUDIO_SUFFIXES = frozenset(
    {".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".aiff", ".aif"}
)


class CliInputError(ValueError):
    """A command-line input (a file, a CSV, an option) cannot be used."""


def _comma_ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from exc
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive widths, got {text!r}")
    return values


def _fractions(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected three numbers, got {text!r}") from exc
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"expected train,val,test fractions, got {text!r}")
    return values  # type: ignore[return-value]


# -- train segvmnet | vmnet ---------------------------------------------------------------


def _given(**options: object) -> dict[str, object]:
    """The options the user set (not None); the others keep the config's default."""
    return {name: value for name, value in options.items() if value is not None}


def _train_two_branch(args: argparse.Namespace) -> int:
    from ml.data.clips import BuildConfig, build_dataset
    from ml.data.dataset import load_dataset
    from ml.export import export_checkpoint
    from ml.training.checkpoint import read_checkpoint
    from ml.training.config import TrainConfig
    from ml.training.trainer import train

    if (args.videos is None) == (args.dataset is None):
        raise CliInputError(f"v2m train {args.kind} needs either --videos DIR or --dataset DIR")
    if args.dataset is not None:  # built before (e.g. by another `v2m train`): used as it is
        dataset_dir = args.dataset
        manifest = load_dataset(dataset_dir).manifest
    else:
        dataset_dir = args.work / "dataset"
        manifest = build_dataset(
            BuildConfig(
                args.videos,
                dataset_dir,
                segmentation=args.segmentation,
                audio_extractor=args.audio_extractor,
                video_extractor=args.video_extractor,
                split_fractions=args.split,
                seed=args.seed,
                progress=not args.quiet,
            )
        )
    counts = {s: sum(c.split == s for c in manifest.clips) for s in ("train", "val", "test")}
    print(
        f"dataset: {len(manifest.clips)} clips ({counts['train']} train, {counts['val']} val, "
        f"{counts['test']} test), {len(manifest.skipped)} skipped, at {dataset_dir}"
    )
    for skipped in manifest.skipped:
        print(f"  skipped {skipped['source']}: {skipped['reason']}", file=sys.stderr)
    config = TrainConfig(
        args.kind,
        dataset_dir,
        args.work / "run",
        recipe=args.recipe,
        embedding_dim=args.dim or 512,
        music_hidden=args.music_hidden,
        video_hidden=args.video_hidden,
        dropout=args.dropout,
        pooling=args.pooling,
        margin=args.margin,
        batch_size=args.batch_size,
        max_epochs=args.epochs,
        patience=args.patience,
        **_given(learning_rate=args.learning_rate, monitor=args.monitor),
        seed=args.seed,
        device=args.device,
        progress=not args.quiet,
    )
    best = train(config)
    state = read_checkpoint(best)
    n_clips = state["dataset"]["n_clips"]
    print(
        f"best checkpoint {best} ({state['train_config']['recipe']} recipe, epoch "
        f"{state['epoch'] + 1}; validation mean rank / catalog "
        f"{state['metrics']['val_mean_rank_fraction']:.3f}); "
        f"trained on {n_clips['train']} train + {n_clips['val']} val clips "
        f"(data {state['data_fingerprint'][:12]})"
    )
    if args.export is not None:
        print(f"exported {export_checkpoint(best, args.export)}")
        _fit_sync_weight(args, dataset_dir)
    return 0


def _fit_sync_weight(args: argparse.Namespace, dataset_dir: Path) -> None:
    """Weigh the cuts-on-beats evidence for the export, on its validation clips."""
    from app.services.costs import DEFAULT_METHOD
    from ml.evaluation.served import record_sync_weight

    if args.kind != "segvmnet" or args.videos is None:
        print("cuts-on-beats evidence: off (needs Seg-VM-Net trained from --videos)")
        return
    fit = record_sync_weight(args.export, dataset_dir, args.videos, DEFAULT_METHOD)
    ranks = ", ".join(f"w={w:g}: {r:.2f}" for w, r in fit.mean_ranks.items())
    print(
        f"cuts-on-beats evidence: weight {fit.weight:g} on {fit.n_clips} validation clips"
        + (f" (mean rank {ranks})" if ranks else " (too few to fit: equal say, the prior)")
    )


# -- train musimnet -----------------------------------------------------------------------


def read_tags_csv(path: Path) -> dict[str, dict[str, float]]:
    """``file`` -> ``{tag: strength}`` from a CSV with columns ``file`` and ``tags``.

    Tags are separated by ``;``; a tag may carry a strength as ``tag:0.5`` (default 1).
    Raises :class:`CliInputError` for a missing column, a bad strength or a file named
    twice.
    """
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or not {"file", "tags"} <= set(reader.fieldnames):
                raise CliInputError(f"{path}: needs the columns 'file' and 'tags'")
            rows = list(reader)
    except OSError as exc:
        raise CliInputError(f"cannot read {path}: {exc}") from exc
    tags: dict[str, dict[str, float]] = {}
    for line, row in enumerate(rows, start=2):
        name = (row["file"] or "").strip()
        if not name:
            raise CliInputError(f"{path}:{line}: empty file name")
        if name in tags:
            raise CliInputError(f"{path}:{line}: {name!r} is listed twice")
        strengths: dict[str, float] = {}
        for item in (row["tags"] or "").split(";"):
            tag, _, strength = item.strip().partition(":")
            if not tag.strip():
                continue
            try:
                strengths[tag.strip()] = float(strength) if strength.strip() else 1.0
            except ValueError as exc:
                raise CliInputError(f"{path}:{line}: bad strength in {item!r}") from exc
        tags[name] = strengths
    return tags


def _train_musimnet(args: argparse.Namespace) -> int:
    import numpy as np

    from ml.export import export_checkpoint
    from ml.models.musimnet import MuSimNetConfig
    from ml.similarity.mining import MiningConfig
    from ml.training.checkpoint import read_checkpoint
    from ml.training.musimnet import MuSimNetTrainConfig, TaggedTracks, train_musimnet

    if args.tracks is None or args.tags is None:
        raise CliInputError("v2m train musimnet needs --tracks DIR and --tags tags.csv")
    if not args.tracks.is_dir():
        raise CliInputError(f"{args.tracks} is not a directory")
    tags = read_tags_csv(args.tags)
    files = sorted(p for p in args.tracks.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    tagged = [p for p in files if p.relative_to(args.tracks).as_posix() in tags or p.name in tags]
    if len(tagged) < 4:
        raise CliInputError(f"{len(tagged)} tracks of {args.tracks} have tags; need at least 4")

    def tags_of(p: Path) -> dict[str, float]:
        return tags.get(p.relative_to(args.tracks).as_posix(), tags.get(p.name, {}))

    order = np.random.default_rng(args.seed).permutation(len(tagged))
    n_val = max(2, round(args.val_fraction * len(tagged)))
    val_files = [tagged[i] for i in sorted(order[:n_val])]
    train_files = [tagged[i] for i in sorted(order[n_val:])]
    print(f"MuSimNet: {len(train_files)} training and {len(val_files)} validation tracks")
    train_set = TaggedTracks.from_audio_files(train_files, [tags_of(p) for p in train_files])
    val_set = TaggedTracks.from_audio_files(val_files, [tags_of(p) for p in val_files])
    config = MuSimNetTrainConfig(
        train_set,
        val_set,
        out_dir=args.work / "run",
        model=MuSimNetConfig(variant=args.variant, embedding_dim=args.dim or 128),
        mining=MiningConfig(strategy=args.mining, seed=args.seed),
        **_given(learning_rate=args.learning_rate),
        max_epochs=args.epochs,
        patience=args.patience,
        seed=args.seed,
        device=args.device,
        progress=not args.quiet,
    )
    result = train_musimnet(config)
    state = read_checkpoint(result.path)
    trained_on = state["train_config"]
    print(
        f"best checkpoint {result.path} (epoch {result.best_epoch + 1}); trained on "
        f"{trained_on['n_train_tracks']} training + {trained_on['n_validation_tracks']} "
        f"validation tracks (data {state['data_fingerprint'][:12]})"
    )
    if args.export is not None:
        print(f"exported {export_checkpoint(result.path, args.export)}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    if args.kind == "musimnet":
        return _train_musimnet(args)
    return _train_two_branch(args)


# -- evaluate, export ---------------------------------------------------------------------


def _baseline(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=CHECKPOINT, got {text!r}")
    return name, Path(path)


def cmd_evaluate(args: argparse.Namespace) -> int:
    """The served path by default (``--model`` + ``--videos``); the published protocol
    with ``--dataset`` + ``--checkpoint``."""
    if args.model is not None:
        return _evaluate_served(args)
    if args.dataset is None or args.checkpoint is None:
        raise SystemExit(
            "v2m evaluate: give --model and --videos (the served path), or "
            "--dataset and --checkpoint (the protocol)"
        )
    from ml.evaluation.experiment import evaluate_checkpoint

    report = evaluate_checkpoint(
        args.dataset,
        args.checkpoint,
        split=args.split,
        baselines=dict(args.baseline or []),
        out_dir=args.out,
    )
    print(report.to_markdown())
    if args.out is not None:
        print(f"wrote {args.out / 'evaluation.md'} and {args.out / 'evaluation.json'}")
    return 0


def _evaluate_served(args: argparse.Namespace) -> int:
    from ml.data.clips import find_videos
    from ml.evaluation.served import evaluate_model_on_videos, served_table

    if args.videos is None:
        raise SystemExit("v2m evaluate: --model needs --videos (the test videos)")
    cuts = json.loads(args.cuts.read_text()) if args.cuts is not None else None
    report = evaluate_model_on_videos(
        args.model,
        find_videos(args.videos),
        args.methods,
        cut_points=cuts,
        bank_videos=find_videos(args.bank) if args.bank is not None else (),
        cache_dir=args.cache,
        progress=lambda path: print(f"analysed {path.name}", file=sys.stderr),
    )
    print(served_table(report))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "served.md").write_text(served_table(report) + "\n")
        (args.out / "served.json").write_text(json.dumps(report.to_dict(), indent=2))
        print(f"wrote {args.out / 'served.md'} and {args.out / 'served.json'}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ml.export import export_checkpoint

    print(export_checkpoint(args.checkpoint, args.out, name=args.name))
    return 0


def _run_guarded(command):
    """Bad input ends the command with a one-line message and exit status 2."""
    from ml.data.dataset import DatasetError
    from ml.evaluation.retrieval import EvaluationError
    from ml.export import ExportError
    from ml.media.errors import MediaError
    from ml.training.checkpoint import CheckpointError
    from ml.training.musimnet import MuSimNetTrainingError

    expected = (
        CliInputError,
        DatasetError,
        EvaluationError,
        CheckpointError,
        MediaError,
        ExportError,
        MuSimNetTrainingError,
    )

    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except expected as exc:
            print(f"v2m {args.verb}: {exc}", file=sys.stderr)
            return 2

    return run


def add_ml_verbs(subparsers: argparse._SubParsersAction) -> None:
    """Register ``train``, ``evaluate`` and ``export`` on the ``v2m`` parser."""
    p = subparsers.add_parser(
        "train",
        help="train Seg-VM-Net / VM-Net on a folder of music videos, or MuSimNet on tagged tracks",
    )
    p.add_argument("kind", choices=("segvmnet", "vmnet", "musimnet"))
    p.add_argument(
        "--work", type=Path, required=True, help="dataset cache and checkpoints (resumable)"
    )
    p.add_argument("--videos", type=Path, help="segvmnet/vmnet: folder of music videos")
    p.add_argument(
        "--dataset", type=Path, help="segvmnet/vmnet: a dataset built before, instead of --videos"
    )
    p.add_argument("--segmentation", default="olda", choices=("olda", "foote", "sf", "transnet"))
    p.add_argument(
        "--recipe",
        default="auto",
        choices=("auto", "cca", "triplet"),
        help="segvmnet/vmnet: cca (closed form, seconds; best from tens of clips), triplet "
        "(the published loss), or auto (default): Seg-VM-Net by cca, and from 20 validation "
        "clips the better of the two on validation; VM-Net by triplet",
    )
    p.add_argument(
        "--audio-extractor",
        default=DEFAULT_AUDIO_EXTRACTOR,
        help="audio frame features; names joined by + are concatenated",
    )
    p.add_argument("--video-extractor", default=DEFAULT_VIDEO_EXTRACTOR)
    p.add_argument(
        "--split", type=_fractions, default=(0.8, 0.1, 0.1), help="train,val,test fractions by clip"
    )
    p.add_argument(
        "--pooling",
        choices=("mean", "attention", "auto"),
        help="vmnet: learned pooling over frames (default: clip mean vector)",
    )
    p.add_argument(
        "--dim", type=int, default=None, help="embedding size (default 512; 128 for musimnet)"
    )
    p.add_argument("--music-hidden", type=_comma_ints, default=(2048, 1024))
    p.add_argument("--video-hidden", type=_comma_ints, default=(2048,))
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument("--margin", type=float, default=0.1)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument(
        "--learning-rate", type=float, default=None,
        help="Adam step size (default: the model's recipe, 1e-3 for segvmnet/vmnet)",
    )  # fmt: skip
    p.add_argument("--epochs", type=int, default=100, help="at most this many epochs")
    p.add_argument("--patience", type=int, default=10, help="early stopping")
    p.add_argument(
        "--monitor",
        choices=("val_mean_rank", "val_loss"),
        default=None,
        help="segvmnet/vmnet: what early stopping watches (default val_mean_rank; the "
        "validation loss kept Seg-VM-Net's second epoch while its validation rank still "
        "improved for 30)",
    )
    p.add_argument("--tracks", type=Path, help="musimnet: folder of audio tracks")
    p.add_argument("--tags", type=Path, help="musimnet: CSV with columns file, tags (a;b:0.5)")
    p.add_argument("--variant", default="autopool", choices=("autopool", "vgg"))
    p.add_argument("--mining", default="distance", choices=("neighbours", "uniform", "distance"))
    p.add_argument("--val-fraction", type=float, default=0.15, help="musimnet validation share")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:n]")
    p.add_argument("--export", type=Path, help="also export the best model (ONNX) here")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=_run_guarded(cmd_train))

    p = subparsers.add_parser(
        "evaluate",
        help="how well a model finds each test video's own music: the served path (--model "
        "--videos), or the published protocol (--dataset --checkpoint, docs/method.md §6)",
    )
    p.add_argument("--model", type=Path, help="served path: an exported model directory")
    p.add_argument(
        "--videos",
        type=Path,
        help="served path: test music videos; their soundtracks are the catalog",
    )
    p.add_argument(
        "--cuts",
        type=Path,
        help="served path: JSON {video file stem: [cut times in s]}, the users' cut "
        "points; videos without them are cut by their shots",
    )
    p.add_argument(
        "--bank",
        type=Path,
        help="served path: reference videos (e.g. the training clips): also score "
        "every cost with the CSLS hubness correction",
    )
    p.add_argument("--methods", nargs="+", default=list(QUERY_METHODS), choices=QUERY_METHODS)
    p.add_argument("--cache", type=Path, help="served path: keep each clip's analysis here")
    p.add_argument("--dataset", type=Path, help="protocol: a dataset built by v2m train")
    p.add_argument("--checkpoint", type=Path, help="protocol: the model (best.pt)")
    p.add_argument(
        "--baseline",
        type=_baseline,
        action="append",
        help="protocol: a clip-level baseline as NAME=CHECKPOINT (repeatable)",
    )
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    p.add_argument("--out", type=Path, help="write the tables (markdown and JSON) here")
    p.set_defaults(run=_run_guarded(cmd_evaluate))

    p = subparsers.add_parser(
        "export", help="export a training checkpoint (any kind) to ONNX + model.json"
    )
    p.add_argument("checkpoint", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument(
        "--name",
        help="registry name (default: kind-segmentation-checksum, "
        "musimnet-variant-checksum for MuSimNet)",
    )
    p.set_defaults(run=_run_guarded(cmd_export))
