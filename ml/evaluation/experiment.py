"""The end-to-end experiment: a trained model, a dataset's test split, the protocol.

What ``v2m evaluate`` runs (docs/method.md §6):

1. load the dataset written by :func:`ml.data.clips.build_dataset` and a training
   checkpoint (``best.pt``) of a model trained on it;
2. embed every clip of the test split, segment by segment: the *video* branch on the
   video segments gives the query, the *music* branch on the music segments gives the
   target (clip ``i``'s answer is its own music, target ``i``);
3. optionally embed the same clips with clip-level baselines (VM-Net checkpoints):
   one vector per clip and modality;
4. rank all targets for every query under every cost and scenario
   (:func:`ml.evaluation.protocol.run_protocol`) and write the markdown table and JSON.

The model and the dataset must agree on the frame-feature extractors; a clip-level
baseline's clip vectors do not depend on the segmentation, so a VM-Net trained on a
dataset of one segmentation can be a baseline for any other one built from the same
videos with the same extractors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ml.data.dataset import ClipRecord, VideoMusicDataset, load_dataset
from ml.evaluation.protocol import ProtocolReport, run_protocol, write_report
from ml.evaluation.retrieval import EvaluationError
from ml.evaluation.scenarios import SCENARIOS
from ml.models.pooling import sample_frame_indices
from ml.models.vmnet import ProjectionBranch, TwoBranchNet
from ml.ranking import METHODS
from ml.training.checkpoint import load_model, read_checkpoint

__all__ = [
    "ExperimentError",
    "TestEmbeddings",
    "check_compatible",
    "clip_embeddings",
    "evaluate_checkpoint",
    "segment_embeddings",
]

# Frames drawn per clip when a pooled branch embeds a whole clip (docs/method.md §3: the
# sampling used in training is used at inference), and the seed that fixes the draw.
INFERENCE_SEED = 0


class ExperimentError(EvaluationError):
    """A checkpoint and a dataset do not fit together, or a split cannot be evaluated."""


@dataclass(frozen=True)
class TestEmbeddings:
    """Per-clip embeddings of one split: ``queries[i]`` (video) and ``targets[i]`` (music)."""

    clip_ids: tuple[str, ...]
    queries: list[np.ndarray]
    targets: list[np.ndarray]


@torch.no_grad()
def _embed_vectors(branch: ProjectionBranch, vectors: np.ndarray) -> np.ndarray:
    return branch(torch.as_tensor(vectors, dtype=torch.float32)).numpy()


@torch.no_grad()
def _embed_sequence(branch: ProjectionBranch, frames: np.ndarray) -> np.ndarray:
    """One pooled embedding of a (T, D) frame sequence."""
    return branch(torch.as_tensor(frames, dtype=torch.float32)[None]).numpy()[0]


def _segment_frames(record: ClipRecord, frames: np.ndarray) -> list[np.ndarray]:
    """The 1 Hz frames inside each segment (at least one frame per segment)."""
    n = len(frames)
    starts = np.clip(np.floor(record.boundaries_s[:-1]).astype(int), 0, n - 1)
    stops = np.clip(np.ceil(record.boundaries_s[1:]).astype(int), starts + 1, n)
    return [frames[a:b] for a, b in zip(starts, stops, strict=True)]


def segment_embeddings(model: TwoBranchNet, records: Sequence[ClipRecord]) -> TestEmbeddings:
    """Video-branch queries and music-branch targets, one row per segment of each clip.

    A branch that takes vectors embeds the segment vectors (the segment's mean frame
    feature); a pooled branch (clip-level VM-Net with pooling) embeds each segment's
    frame sequence, so a clip-level model can be ranked by the segment-level costs too.
    """
    if not records:
        raise ExperimentError("no clips to embed")
    model.eval()
    queries, targets = [], []
    for record in records:
        for branch, vectors, frames, out in (
            (model.video, record.video_segments, record.video_frames, queries),
            (model.music, record.music_segments, record.music_frames, targets),
        ):
            if branch.takes_sequences:
                pieces = _segment_frames(record, frames)
                out.append(np.stack([_embed_sequence(branch, p) for p in pieces]))
            else:
                out.append(_embed_vectors(branch, vectors))
    return TestEmbeddings(tuple(r.clip_id for r in records), queries, targets)


def clip_embeddings(
    model: TwoBranchNet, records: Sequence[ClipRecord], frames_per_clip: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """One (video, music) embedding per clip, each (C, d): a clip-level model's view.

    A branch that takes vectors sees the clip's mean frame feature (as VM-Net was
    trained); a pooled branch sees ``frames_per_clip`` frames drawn with a fixed seed,
    the sampling it was trained with, so the embedding is reproducible.
    """
    if not records:
        raise ExperimentError("no clips to embed")
    model.eval()
    rng = np.random.default_rng(INFERENCE_SEED)
    video, music = [], []
    for record in records:
        for branch, frames, out in (
            (model.video, record.video_frames, video),
            (model.music, record.music_frames, music),
        ):
            if branch.takes_sequences:
                picks = sample_frame_indices(len(frames), frames_per_clip, rng)
                out.append(_embed_sequence(branch, frames[picks]))
            else:
                out.append(_embed_vectors(branch, frames.mean(axis=0, keepdims=True))[0])
    return np.stack(video), np.stack(music)


def check_compatible(state: Mapping, dataset: VideoMusicDataset, what: str) -> None:
    """Raise :class:`ExperimentError` unless the checkpoint was trained on features of
    the same extractors (name, version, dimension) as the dataset holds."""
    trained_on = state.get("dataset", {})
    manifest = dataset.manifest
    for key, info in (
        ("audio_extractor", manifest.audio_extractor),
        ("video_extractor", manifest.video_extractor),
    ):
        saved = trained_on.get(key)
        if saved is None:
            raise ExperimentError(f"{what} does not record its {key}")
        expected = {"name": info.name, "version": info.version, "dim": int(info.dim)}
        found = {k: saved.get(k) for k in expected}
        if found != expected:
            raise ExperimentError(
                f"{what} was trained on {key} {found}, the dataset holds {expected}"
            )


def _frames_per_clip(state: Mapping) -> int:
    return int(state.get("train_config", {}).get("frames_per_clip") or 100)


def evaluate_checkpoint(
    dataset_dir: Path | str,
    checkpoint: Path | str,
    *,
    split: str = "test",
    baselines: Mapping[str, Path | str] | None = None,
    methods: Sequence[str] = METHODS,
    scenarios: Sequence[str] = SCENARIOS,
    out_dir: Path | str | None = None,
    stem: str = "evaluation",
) -> ProtocolReport:
    """Run the published protocol for one trained model on a dataset's ``split``.

    Parameters
    ----------
    dataset_dir : a directory written by :func:`ml.data.clips.build_dataset`.
    checkpoint : the model to evaluate (a ``best.pt``); its segment embeddings are
        ranked by every cost in ``methods`` under every scenario in ``scenarios``.
    baselines : ``{name: checkpoint}`` of clip-level models (VM-Net), reported in the
        vanilla column with one vector per clip.
    out_dir : when given, ``<stem>.md`` and ``<stem>.json`` are written there.

    Raises :class:`ExperimentError` when a checkpoint and the dataset disagree on the
    extractors or the split is empty; :class:`ml.training.checkpoint.CheckpointError`
    for unreadable checkpoints; :class:`ml.data.dataset.DatasetError` for a bad dataset.
    """
    dataset = load_dataset(dataset_dir)
    records = dataset.records(split)
    if len(records) < 2:
        raise ExperimentError(f"split {split!r} has {len(records)} clips; ranking needs two")
    state = read_checkpoint(checkpoint)
    check_compatible(state, dataset, f"checkpoint {checkpoint}")
    model = load_model(checkpoint)
    embeddings = segment_embeddings(model, records)

    clip_level: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, path in (baselines or {}).items():
        baseline_state = read_checkpoint(path)
        check_compatible(baseline_state, dataset, f"baseline {name!r} ({path})")
        clip_level[name] = clip_embeddings(
            load_model(path), records, _frames_per_clip(baseline_state)
        )

    trained_on = state.get("dataset", {})
    metadata = {
        "split": split,
        "checkpoint": str(checkpoint),
        "kind": state.get("kind"),
        "model_segmentation": trained_on.get("segmentation"),
        "dataset_segmentation": dataset.manifest.segmentation,
        "audio_extractor": dataset.manifest.audio_extractor.name,
        "video_extractor": dataset.manifest.video_extractor.name,
        "best_epoch": state.get("best_epoch"),
        "n_segments": {
            "query_mean": float(np.mean([len(q) for q in embeddings.queries])),
            "target_mean": float(np.mean([len(t) for t in embeddings.targets])),
        },
        "baselines": {name: str(path) for name, path in (baselines or {}).items()},
        "clip_ids": list(embeddings.clip_ids),
    }
    report = run_protocol(
        embeddings.queries,
        embeddings.targets,
        methods=methods,
        scenarios=scenarios,
        clip_baselines=clip_level,
        metadata=metadata,
    )
    if out_dir is not None:
        write_report(report, out_dir, stem)
    return report
