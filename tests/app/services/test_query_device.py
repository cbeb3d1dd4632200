"""The API's GPU variant (``api-gpu`` under the compose file's ``gpu`` profile) on a
machine without a GPU: a query is still analysed and embedded, on the CPU.

The variant differs from the API only by its image, its reserved device and its
``V2M_DEVICE``; this reads that setting from the compose file, serves a model with the
default ``transnet`` video features under it and runs a query's analysis through the
service's own path (:func:`app.services.recommend.embed_video`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import yaml

from app.db.session import session_scope
from app.migrate import upgrade
from app.services.model_kind import RECOMMEND
from app.services.models import ServingModels, active_in_role, register_model
from app.services.recommend import QueryOptions, embed_video
from app.settings import Settings
from bench.bench_query import build_model
from bench.bench_shots import write_edited_video
from ml.media.shots import ShotDetector
from ml.pipeline.timing import Timings

ROOT = Path(__file__).resolve().parents[3]


def gpu_variant_device() -> str:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    return services["api-gpu"]["environment"]["V2M_DEVICE"]


def test_the_gpu_variant_answers_on_the_cpu_when_no_gpu_is_visible(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path / "data", device=gpu_variant_device())
    upgrade(settings.sqlalchemy_url)
    model_dir = build_model(tmp_path / "model", "transnet")
    with session_scope(settings.sqlalchemy_url) as db:
        register_model(db, model_dir, settings.model_dir, activate=True)
        row = active_in_role(db, RECOMMEND)
        model = ServingModels(settings.device).get(row)
    video = write_edited_video(tmp_path / "query.mp4", 6.0, seed=5)

    query = embed_video(video.path, model, QueryOptions(), settings, Timings())

    on_gpu = torch.cuda.is_available()
    assert ShotDetector(device=settings.device).device.type == ("cuda" if on_gpu else "cpu")
    assert on_gpu or model.video.providers == ["CPUExecutionProvider"]
    assert query.analysis.features.shape == (6, 1024)
    assert len(query.embeddings) == len(query.analysis.boundaries_s) - 1
    assert np.isfinite(query.embeddings).all()
