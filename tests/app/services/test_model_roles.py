"""Models have roles: activating a MuSimNet leaves the video-to-music model active, and
nothing that ingests tracks or answers video queries takes a MuSimNet for "the active
model" (the registry rows are real; the Seg-VM-Net rows carry no files because only
their role is read here)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.db.models import IndexChange, Model, Track, TrackEmbedding
from app.db.session import session_scope
from app.main import create_app
from app.migrate import upgrade
from app.services.models import (
    ModelRegistryError,
    ServingModels,
    ServingMuSimNet,
    activate_model,
    active_model,
    active_similarity_model,
    register_model,
)
from app.settings import Settings
from ml.export import load_registry_entry
from ml.export.musimnet import OnnxMuSimNet
from ml.features.cqt import CQT_VERSION
from ml.synth import timbre_sections


def renamed_copy(export_dir, target, name: str):
    """The same export under another registry name (model.json is not checksummed)."""
    shutil.copytree(export_dir, target)
    data = json.loads((target / "model.json").read_text())
    (target / "model.json").write_text(json.dumps({**data, "name": name}))
    return target


def active_names(db) -> set[str]:
    return set(db.scalars(select(Model.name).where(Model.active.is_(True))))


def test_activation_is_per_role(sqlite_url, tiny_musimnet, tmp_path, rows):
    upgrade(sqlite_url)
    models = tmp_path / "models"
    with session_scope(sqlite_url) as db:
        seg, vm = rows.video_model(db, "seg"), rows.video_model(db, "vm", "vmnet")
        activate_model(db, seg)
        sim = register_model(db, tiny_musimnet, models, activate=True)
        assert active_names(db) == {"seg", "tiny-musimnet"}
        # Whatever the row order, "the active model" is the video-to-music one.
        assert active_model(db).id == seg.id and active_similarity_model(db).id == sim.id
        activate_model(db, vm)
        assert active_names(db) == {"vm", "tiny-musimnet"}
        other = register_model(
            db, renamed_copy(tiny_musimnet, tmp_path / "other", "sim-2"), models, activate=True
        )
        assert active_names(db) == {"vm", "sim-2"}  # at most one MuSimNet
        assert active_model(db).id == vm.id and active_similarity_model(db).id == other.id


def test_only_a_musimnet_active_is_no_active_model(sqlite_url, tiny_musimnet, tmp_path):
    upgrade(sqlite_url)
    with session_scope(sqlite_url) as db:
        register_model(db, tiny_musimnet, tmp_path / "models", activate=True)
        assert active_model(db) is None
    settings = Settings(data_dir=tmp_path / "var", database_url=sqlite_url)
    with TestClient(create_app(settings)) as client:
        video = client.post("/recommend/video", files={"file": ("v.mp4", b"\0" * 64)})
        assert video.status_code == 503 and video.json()["error"] == "no_active_model"
        track = client.post("/catalog/tracks", files={"file": ("t.wav", b"\0" * 64)})
        assert track.status_code == 503 and track.json()["error"] == "no_active_model"
        ready = client.get("/readyz").json()
        assert ready["checks"]["model"] == {"ok": False, "detail": "no active model"}


def test_readyz_names_the_video_model_and_the_similarity_model(
    sqlite_url, tiny_musimnet, tmp_path, rows
):
    upgrade(sqlite_url)
    with session_scope(sqlite_url) as db:
        register_model(db, tiny_musimnet, tmp_path / "models", activate=True)
        activate_model(db, rows.video_model(db, "seg"))
    settings = Settings(data_dir=tmp_path / "var", database_url=sqlite_url)
    with TestClient(create_app(settings)) as client:
        model = client.get("/readyz").json()["checks"]["model"]
    assert model == {
        "ok": True,
        "name": "seg",
        "kind": "segvmnet",
        "similarity_model": "tiny-musimnet",
    }


def test_a_registered_musimnet_serves_track_embeddings_only(sqlite_url, tiny_musimnet, tmp_path):
    upgrade(sqlite_url)
    with session_scope(sqlite_url) as db:
        row = register_model(db, tiny_musimnet, tmp_path / "models")
        entry = load_registry_entry(tiny_musimnet)
        assert (row.kind, row.dim, row.segmentation) == ("musimnet", 16, "")
        assert (row.audio_extractor, row.video_extractor) == (f"log-cqt@{CQT_VERSION}", "")
        assert row.checksum == entry.data["network"]["sha256"] and not row.active
        serving = ServingModels("cpu")
        with pytest.raises(ModelRegistryError, match="similarity only"):
            serving.get(row)
        sim = serving.load(row)
        assert isinstance(sim, ServingMuSimNet) and sim.role == "similar"
        assert sim.space == "musimnet" and serving.load(row) is sim  # loaded once
    y, *_ = timbre_sections([4.0, 4.0], ["strings", "bell"], [100.0, 70.0], 22050)
    vector = sim.embed_signal(y, 22050)
    expected = OnnxMuSimNet.from_entry(entry, "cpu").embed_signal(y, 22050)
    assert vector.shape == (1, 16) and np.array_equal(vector[0], expected)


def test_a_musimnet_of_another_cqt_is_refused(sqlite_url, tiny_musimnet, tmp_path):
    upgrade(sqlite_url)
    stale = renamed_copy(tiny_musimnet, tmp_path / "stale", "stale")
    data = json.loads((stale / "model.json").read_text())
    data["cqt"]["version"] = "cqt-of-another-release"
    (stale / "model.json").write_text(json.dumps(data))
    with session_scope(sqlite_url) as db:
        with pytest.raises(ModelRegistryError, match="CQT"):
            register_model(db, stale, tmp_path / "models")
        assert db.scalar(select(Model.id)) is None


def test_activating_a_musimnet_from_the_cli_embeds_the_catalog_first(tiny_musimnet, tmp_path, rows):
    from app.media_store import MediaStore
    from cli.catalog import activate, register
    from ml.synth import write_audio

    settings = Settings(data_dir=tmp_path / "var")
    upgrade(settings.sqlalchemy_url)
    songs = [
        write_audio(
            tmp_path / f"{i}.flac",
            timbre_sections([4.0, 4.0], pair, [95.0, 130.0], 22050)[0],
            22050,
        )
        for i, pair in enumerate([("piano", "bell"), ("organ", "pluck")])
    ]
    broken = tmp_path / "broken.flac"
    broken.write_bytes(b"fLaC" + b"\0" * 4000)  # stored once, undecodable now
    with session_scope(settings.sqlalchemy_url) as db:
        activate_model(db, rows.video_model(db, "seg"))
        ids = [rows.ready_track(db, settings, path, path.stem) for path in songs]
        broken_id = rows.ready_track(db, settings, broken, "broken")

    # One track cannot be embedded: the MuSimNet is registered but not activated.
    with pytest.raises(SystemExit, match="not activated.*1 failed"):
        register(settings, tiny_musimnet, activate=True)
    with session_scope(settings.sqlalchemy_url) as db:
        sim = db.scalar(select(Model).where(Model.kind == "musimnet"))
        assert active_names(db) == {"seg"}
        embedded = {e.track_id for e in db.scalars(select(TrackEmbedding))}
        assert embedded == set(ids)  # the good tracks are done and not redone later
        db.delete(db.get(Track, broken_id))

    assert activate(settings, "tiny-musimnet") == "model tiny-musimnet: active"
    onnx = OnnxMuSimNet.from_entry(load_registry_entry(tiny_musimnet), "cpu")
    with session_scope(settings.sqlalchemy_url) as db:
        assert active_names(db) == {"seg", "tiny-musimnet"}
        for track_id in ids:
            row = db.scalar(select(TrackEmbedding).where(TrackEmbedding.track_id == track_id))
            assert (row.model_id, row.n_segments, row.dim) == (sim.id, 1, 16)
            media = MediaStore(settings.media_dir).path_for(db.get(Track, track_id).media_key)
            np.testing.assert_array_equal(row.segment_matrix()[0], onnx.embed_file(media))
            np.testing.assert_array_equal(row.centroid_vector(), row.segment_matrix()[0])
        logged = db.scalars(
            select(IndexChange.track_id).where(
                IndexChange.model_id == sim.id, IndexChange.op == "add"
            )
        ).all()
        assert sorted(logged) == ids


def test_the_cli_recommends_with_the_video_model_only(tiny_musimnet, tmp_path, rows):
    from app.services.recommend import QueryOptions
    from cli.catalog import recommend_file, register
    from ml.synth import write_audio

    settings = Settings(data_dir=tmp_path / "var")
    upgrade(settings.sqlalchemy_url)
    song = write_audio(
        tmp_path / "song.flac",
        timbre_sections([4.0, 4.0], ["piano", "bell"], [95.0, 130.0], 22050)[0],
        22050,
    )
    with session_scope(settings.sqlalchemy_url) as db:
        activate_model(db, rows.video_model(db, "seg"))
        rows.ready_track(db, settings, song, "song")
    register(settings, tiny_musimnet, activate=True)  # the MuSimNet index holds the song
    # The Seg-VM-Net's index is empty (its row has no embeddings): that is what counts.
    with pytest.raises(SystemExit, match="no ready track"):
        recommend_file(settings, song, QueryOptions())
