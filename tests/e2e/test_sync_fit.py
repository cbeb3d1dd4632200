"""Fitting a model's weight of the cuts-on-beats evidence on held-out videos, through the
served path, and recording it in the export (what ``v2m train --export`` does)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from app.services.costs import DEFAULT_METHOD
from ml.data.dataset import load_dataset
from ml.evaluation.fusion import WEIGHT_GRID
from ml.evaluation.served import fit_served_sync_weight, record_sync_weight
from ml.export import load_registry_entry

pytestmark = pytest.mark.slow


def _split(tiny_demo, split: str) -> list:
    clips = load_dataset(tiny_demo / "dataset").manifest.clips
    return [tiny_demo / "corpus" / "videos" / c.source for c in clips if c.split == split]


def test_the_weight_is_chosen_on_held_out_videos_among_the_grid(tiny_demo):
    queries, distractors = _split(tiny_demo, "test"), _split(tiny_demo, "train")[:4]
    fit = fit_served_sync_weight(
        tiny_demo / "model", queries, DEFAULT_METHOD, distractors=distractors
    )
    assert fit.n_clips == len(queries) >= 3
    assert sorted(fit.mean_ranks) == sorted(WEIGHT_GRID)
    catalog = len(queries) + len(distractors)
    assert all(1.0 <= r <= catalog for r in fit.mean_ranks.values())
    # The smallest weight among the best mean ranks.
    best = min(fit.mean_ranks.values())
    assert fit.weight == min(w for w, r in fit.mean_ranks.items() if np.isclose(r, best))


def test_the_export_records_the_weight_and_the_service_reads_it(tiny_demo, tmp_path):
    model = shutil.copytree(tiny_demo / "model", tmp_path / "model")
    fit = record_sync_weight(
        model,
        tiny_demo / "dataset",
        tiny_demo / "corpus" / "videos",
        DEFAULT_METHOD,
        max_distractors=4,
    )
    recorded = json.loads((model / "model.json").read_text())["sync_fusion"]
    assert recorded["method"] == DEFAULT_METHOD
    assert recorded["weight"] == fit.weight
    assert recorded["validation_clips"] == fit.n_clips
    assert load_registry_entry(model).sync_weight == fit.weight  # checksums still verify
