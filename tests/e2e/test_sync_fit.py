"""Fitting a model's weight of the cuts-on-beats evidence on held-out videos, through the
served path, and recording it in the export with its bank of music videos (what ``v2m
train --export`` does); each catalog track's priors over that bank, stored at ingestion."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from sqlalchemy import select

from app.db.models import Track, TrackAnalysis, TrackEmbedding
from app.db.session import session_scope
from app.services.costs import DEFAULT_METHOD
from app.services.ingest import stored_features
from app.services.sync_evidence import stored_events
from cli.demo import held_out_clips
from ml.data.dataset import load_dataset
from ml.evaluation.fusion import WEIGHT_GRID
from ml.evaluation.served import fit_served_sync_weight, model_pipeline, record_sync_weight
from ml.export import load_registry_entry
from ml.sync.prior import MAX_SYNC_BANK
from ml.sync.structure import STRUCTURE_WEIGHT

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


def test_the_export_keeps_its_training_clips_as_a_bank_of_music_videos(tiny_demo):
    entry = load_registry_entry(tiny_demo / "model")
    bank = entry.sync_bank()
    train = _split(tiny_demo, "train")
    assert bank.clip_ids == tuple(p.stem for p in train[:MAX_SYNC_BANK])
    assert entry.data["sync_fusion"]["structure_weight"] == STRUCTURE_WEIGHT
    assert all(len(f) >= int(d) for f, d in zip(bank.frames, bank.durations_s, strict=True))


def test_ingestion_stores_each_tracks_priors_over_the_models_bank(make_service, driver):
    client = make_service()
    url = make_service.settings().sqlalchemy_url
    ids = driver.ingest(client, held_out_clips(driver.work)[:2])
    entry = load_registry_entry(driver.work / "model")
    bank, audio = entry.sync_bank(), model_pipeline(entry)["audio"]
    with session_scope(url) as db:
        for track_id in ids.values():
            row = db.scalar(select(TrackEmbedding).where(TrackEmbedding.track_id == track_id))
            analysis = db.scalar(
                select(TrackAnalysis).where(
                    TrackAnalysis.track_id == track_id,
                    TrackAnalysis.segmenter == entry.music_segmenter,
                )
            )
            events = stored_events(analysis, db.get(Track, track_id).duration_s)
            expected = bank.priors([events], [stored_features(db, track_id, audio)])
            assert row.beat_prior == pytest.approx(expected.beat[0], abs=1e-9)
            assert row.structure_prior == pytest.approx(expected.structure[0], abs=1e-9)
