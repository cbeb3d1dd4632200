"""The table of model kinds is the one place a kind is known: every kind it lists goes
through register -> activate (the re-embed job) -> ``/similar/track`` by its serving
class alone, and the export table lists the same kinds.

A kind added to :data:`app.services.kinds.SERVING_KINDS` without a tiny export in
:data:`TINY_EXPORTS` fails here, as does a kind one layer knows and the other not.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from app.db.models import Model, TrackEmbedding
from app.db.session import session_scope
from app.migrate import upgrade
from app.services.kinds import SERVING_KINDS, kind_class, kinds_in_role
from app.services.model_kind import ROLES, ModelRegistryError
from app.services.models import ServingModels, active_in_role, register_model
from app.settings import Settings
from ml.export import EXPORT_KINDS, ExportError, export_kind

KINDS = [name for cls in SERVING_KINDS for name in cls.kinds]


def tiny_two_branch(kind: str) -> Callable[[Path, Path], Path]:
    """A VM-Net or Seg-VM-Net with random weights over the handcrafted extractors."""

    def export(out: Path, _musimnet: Path) -> Path:
        import torch

        from ml.export import export_model
        from ml.features.registry import get_extractor
        from ml.models.vmnet import TwoBranchNet, segvmnet_config, vmnet_config

        audio, video = get_extractor("handcrafted", "audio"), get_extractor("handcrafted", "video")
        config = {"segvmnet": segvmnet_config, "vmnet": vmnet_config}[kind](
            audio.dim, video.dim, embedding_dim=8, music_hidden=(16,), video_hidden=(16,)
        )
        torch.manual_seed(0)
        model = TwoBranchNet(config)
        rng = np.random.default_rng(0)
        model.fit_normalization(
            rng.normal(size=(200, audio.dim)), rng.normal(size=(200, video.dim))
        )
        identity = {
            f"{modality}_extractor": {"name": x.name, "version": x.version, "dim": x.dim}
            for modality, x in (("audio", audio), ("video", video))
        }
        provenance = {"segmentation": "foote", **identity}
        return export_model(model, out, name=f"tiny-{kind}", provenance=provenance).parent

    return export


#: How each kind's tiny model is made (a real export, random weights).
TINY_EXPORTS: dict[str, Callable[[Path, Path], Path]] = {
    "segvmnet": tiny_two_branch("segvmnet"),
    "vmnet": tiny_two_branch("vmnet"),
    "musimnet": lambda _out, musimnet: musimnet,
}

SONGS = [("piano", "bell"), ("organ", "pluck"), ("strings", "saw_synth")]


def test_the_service_and_export_know_the_same_kinds() -> None:
    served = sorted(KINDS)
    assert served == sorted(name for kind in EXPORT_KINDS for name in kind.names)
    assert len(set(served)) == len(served)  # no kind in two classes
    assert all(kinds_in_role(role) for role in ROLES)  # every role has a kind
    with pytest.raises(ModelRegistryError, match="unknown model kind"):
        kind_class("no-such-kind")
    with pytest.raises(ExportError, match="unknown model kind"):
        export_kind("no-such-kind")


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_registers_activates_and_serves(kind, tiny_musimnet, tmp_path, rows) -> None:
    from fastapi.testclient import TestClient

    from app.main import create_app
    from cli.catalog import activate
    from ml.synth import timbre_sections, write_audio

    cls = kind_class(kind)
    settings = Settings(data_dir=tmp_path / "var")
    upgrade(settings.sqlalchemy_url)
    files = [
        write_audio(
            tmp_path / f"{i}.flac",
            timbre_sections([4.0, 4.0], pair, [92.0 + 9 * i, 126.0 - 7 * i], 22050)[0],
            22050,
        )
        for i, pair in enumerate(SONGS)
    ]
    exported = TINY_EXPORTS[kind](tmp_path / "export", tiny_musimnet)
    with session_scope(settings.sqlalchemy_url) as db:
        ids = [rows.ready_track(db, settings, path, path.stem) for path in files]
        row = register_model(db, exported, settings.model_dir)
        name, row_id, dim = row.name, row.id, row.dim
        assert row.kind == kind and not row.active

    # Activation embeds the catalog through the kind's own embedder (the re-embed job).
    assert activate(settings, name) == f"model {name}: active ({len(ids)} tracks embedded)"
    with session_scope(settings.sqlalchemy_url) as db:
        assert active_in_role(db, cls.role).id == row_id
        stored = db.scalars(select(TrackEmbedding).where(TrackEmbedding.model_id == row_id))
        assert sorted(e.track_id for e in stored) == ids
        loaded = ServingModels("cpu").load(db.get(Model, row_id))
        assert type(loaded) is cls and loaded.name == name

    with TestClient(create_app(settings)) as client:
        body = client.post("/similar/track", params={"track_id": ids[0], "k": 5}).json()
        assert (body["space"], body["model"]) == (cls.space, name)
        assert sorted(r["track_id"] for r in body["results"]) == ids[1:]
        with open(files[1], "rb") as handle:
            upload = client.post(
                "/similar/track", params={"k": 1}, files={"file": ("1.flac", handle)}
            ).json()
        # The upload is embedded as ingestion embedded its catalog copy: that comes first.
        assert upload["space"] == cls.space and upload["results"][0]["track_id"] == ids[1]
    assert loaded.embed_recording(files[2]).shape[1] == dim
