"""The re-embed job's tagging step: tracks ingested before automatic tags existed get
them, the serving index sees them (the ``vocals`` and ``auto_tag`` filters of
``/similar/track``), and a track that already has tags keeps them.

A real catalog: generated songs (one with a voice, rendered by espeak-ng, laid over
it; bench/bench_vocals.py), stored and marked ready as ingestion leaves them, each
embedded by a tiny MuSimNet (the active similarity model, so ``/similar/track`` ranks
in its index) but without automatic tags; one track carries tags already, which say
the opposite of its audio; one track's stored media cannot be decoded. The job runs
through the job runner, MusiCNN tags through ONNX, and the API is the real app.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.db.models import IndexChange, Job, Track, TrackAutoTags
from app.db.session import session_scope
from app.jobs.kinds import REEMBED
from app.jobs.records import new_job
from app.jobs.runner import run_job
from app.main import create_app
from app.media_store import MediaStore
from app.migrate import upgrade
from app.services.auto_tags import untagged_ready_tracks
from app.services.ingest import store_auto_tags, store_embeddings
from app.services.models import activate_model, register_model
from app.settings import Settings
from bench.bench_vocals import SENTENCES, VOICES, instrumental, render_voice, with_voice
from ml.export import load_registry_entry
from ml.export.musimnet import OnnxMuSimNet
from ml.features.tags import VOCALS_THRESHOLD, TrackTags
from ml.pipeline.analysis import DECODE_SAMPLE_RATE
from ml.pipeline.track import decode_soundtrack, soundtrack_tags, tagger_source, tagger_tag_names
from ml.synth import write_audio

DURATION_S = 8.0


def songs(folder: Path) -> dict[str, Path]:
    """A sung song, an instrumental one, and another instrumental one (to be tagged
    beforehand as if it were sung)."""
    with tempfile.TemporaryDirectory() as tmp:
        voice = render_voice(SENTENCES[0], *VOICES[0], Path(tmp))
    signals = {
        "sung": with_voice(instrumental(1000, DURATION_S), voice, 0.0),
        "instrumental": instrumental(3, DURATION_S),
        "pretagged": instrumental(5, DURATION_S),
    }
    return {
        name: write_audio(folder / f"{name}.flac", y, DECODE_SAMPLE_RATE)
        for name, y in signals.items()
    }


def stored(db, track_id: int) -> TrackAutoTags | None:
    return db.get(TrackAutoTags, track_id)


def similar(client: TestClient, track_id: int, **params) -> set[int]:
    answer = client.post("/similar/track", params={"track_id": track_id, "k": 10, **params})
    assert answer.status_code == 200, answer.text
    assert answer.json()["space"] == "musimnet"
    return {r["track_id"] for r in answer.json()["results"]}


def run_reembed(settings: Settings, model_id: int) -> dict:
    with session_scope(settings.sqlalchemy_url) as db:
        job_id = new_job(db, REEMBED, {"model_id": model_id}).id
    assert run_job(job_id, settings) == "succeeded"
    with session_scope(settings.sqlalchemy_url) as db:
        return dict(db.get(Job, job_id).result)


@pytest.mark.slow
def test_reembed_tags_untagged_tracks_once_and_the_index_sees_them(
    tiny_musimnet, tmp_path, rows
) -> None:
    settings = Settings(data_dir=tmp_path / "var")
    url = settings.sqlalchemy_url
    upgrade(url)
    files = songs(tmp_path)
    broken = tmp_path / "broken.flac"
    broken.write_bytes(b"fLaC" + b"\0" * 4000)  # stored once, undecodable now
    vocabulary = tagger_tag_names()
    # Tags that say "sung" for an instrumental song: re-tagging would say otherwise.
    preset_values = np.full(len(vocabulary), 0.01, np.float32)
    preset_values[vocabulary.index("female vocalists")] = 0.9
    preset_values[vocabulary.index("Mellow")] = 0.7
    preset = TrackTags(vocabulary, preset_values, tagger_source())
    musimnet = OnnxMuSimNet.from_entry(load_registry_entry(tiny_musimnet), "cpu")
    with session_scope(url) as db:
        activate_model(db, rows.video_model(db, "seg"))
        sim = register_model(db, tiny_musimnet, settings.model_dir, activate=True)
        ids = {name: rows.ready_track(db, settings, path, name) for name, path in files.items()}
        for name, track_id in ids.items():
            store_embeddings(db, track_id, sim.id, musimnet.embed_file(files[name])[None, :])
        ids["broken"] = rows.ready_track(db, settings, broken, "broken")
        store_auto_tags(db, ids["pretagged"], preset)
        sim_id = sim.id
    with session_scope(url) as db:
        before = stored(db, ids["pretagged"])
        preset_row = (before.source, list(before.names), bytes(before.confidences))
        preset_created = before.created_at
        watermark = db.scalar(select(func.max(IndexChange.id)))
    sung, plain, pretagged = ids["sung"], ids["instrumental"], ids["pretagged"]

    with TestClient(create_app(settings)) as client:
        # Before the job: only the pre-tagged track passes a tag filter.
        assert client.get(f"/catalog/tracks/{sung}").json()["tags_auto"] is None
        assert client.get(f"/catalog/tracks/{pretagged}").json()["tags_auto"] == preset.top(10)
        assert similar(client, plain) == {sung, pretagged}
        assert similar(client, plain, vocals="true") == {pretagged}
        assert similar(client, pretagged, vocals="false") == set()
        assert similar(client, plain, auto_tag="female vocalists") == {pretagged}

        result = run_reembed(settings, sim_id)
        # Nothing to embed but the broken track; the two decodable untagged tracks tagged.
        assert (result["tracks"], result["failed"]) == (1, 1)
        assert (result["tagged"], result["tagging_failed"]) == (2, 1)

        with session_scope(url) as db:
            tags = {}
            for name in ("sung", "instrumental"):
                row = stored(db, ids[name])
                assert row is not None and tuple(row.names) == vocabulary
                media = MediaStore(settings.media_dir).path_for(db.get(Track, ids[name]).media_key)
                expected = soundtrack_tags(decode_soundtrack(media))
                np.testing.assert_allclose(row.values(), expected.confidences, atol=1e-5)
                assert row.source == expected.source
                tags[ids[name]] = TrackTags(tuple(row.names), row.values(), row.source)
            assert stored(db, ids["broken"]) is None
            # The pre-tagged track was left alone.
            after = stored(db, pretagged)
            assert (after.source, list(after.names), bytes(after.confidences)) == preset_row
            assert after.created_at == preset_created
            # Each tagged track's index hears of it; the pre-tagged track's does not.
            changes = db.execute(
                select(IndexChange.model_id, IndexChange.track_id, IndexChange.op).where(
                    IndexChange.id > watermark
                )
            ).all()
            assert sorted(changes) == sorted([(sim_id, sung, "add"), (sim_id, plain, "add")])
        tags[pretagged] = preset

        shown = client.get(f"/catalog/tracks/{sung}").json()["tags_auto"]
        assert shown == tags[sung].top(10)
        vocal = {i for i, t in tags.items() if t.vocal_score >= VOCALS_THRESHOLD}
        # The generated tracks must differ for the filters to tell anything.
        assert sung in vocal and plain not in vocal, {i: t.vocal_score for i, t in tags.items()}
        for query in (sung, plain, pretagged):
            assert similar(client, query, vocals="true") == vocal - {query}
            assert similar(client, query, vocals="false") == set(tags) - vocal - {query}
        # The sung track's most confident tag, just under its confidence (float16 in the
        # index): the tracks at or above it, the sung one now among them.
        name, confidence = next(iter(tags[sung].top(1).items()))
        threshold = round(confidence - 0.01, 4)
        column = vocabulary.index(name)
        above = {
            i for i, t in tags.items() if float(np.float16(t.confidences[column])) >= threshold
        }
        assert sung in above
        assert similar(client, plain, auto_tag=name, auto_tag_min=threshold) == above - {plain}

    # Run again: every decodable track has tags, nothing is tagged twice.
    again = run_reembed(settings, sim_id)
    assert (again["tagged"], again["tagging_failed"]) == (0, 1)
    with session_scope(url) as db:
        assert stored(db, pretagged).created_at == preset_created
        assert db.scalar(select(func.count()).select_from(TrackAutoTags)) == 3


def test_tracks_tagged_by_an_earlier_tagger_are_tagged_again(tmp_path, rows) -> None:
    settings = Settings(data_dir=tmp_path / "var")
    upgrade(settings.sqlalchemy_url)
    files = [
        write_audio(tmp_path / f"{i}.flac", instrumental(i, 2.0), DECODE_SAMPLE_RATE)
        for i in range(3)
    ]
    names = ("rock", "instrumental")
    with session_scope(settings.sqlalchemy_url) as db:
        ids = [rows.ready_track(db, settings, file, file.stem) for file in files]
        store_auto_tags(db, ids[1], TrackTags(names, np.full(2, 0.5), "audio/musicnn@msd-1"))
        store_auto_tags(db, ids[2], TrackTags(names, np.full(2, 0.5), tagger_source()))
        assert untagged_ready_tracks(db) == ids[:2]
