"""One pipeline: a clip's segment vectors are the same in training, in ``v2m evaluate``
(the served path) and in ``POST /recommend/video`` / ingestion.

The training set of the tiny demo was built by the dataset builder; the same clip then
goes through the evaluation's analysis and through the service's own functions, with
the training segmentation given as cut points.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.services.models import ServingModel
from app.services.recommend import QueryOptions, embed_video
from app.settings import Settings
from ml.data.dataset import load_dataset
from ml.evaluation.served import analyse_served_query
from ml.export import load_registry_entry
from ml.pipeline.timing import Timings
from ml.pipeline.track import analyse_track_file

pytestmark = pytest.mark.slow


def _serving_model(model_dir: Path) -> ServingModel:
    entry = load_registry_entry(model_dir)
    return ServingModel(
        1, "tiny", entry, entry.encoder("music", "cpu"), entry.encoder("video", "cpu")
    )


def test_a_clip_has_the_same_segment_vectors_in_training_evaluation_and_serving(
    tiny_demo, tmp_path
):
    dataset = load_dataset(tiny_demo / "dataset")
    record = dataset.records("test")[0]
    video = tiny_demo / "corpus" / "videos" / f"{record.clip_id}.mp4"
    cuts = tuple(float(t) for t in record.boundaries_s[1:-1])
    model = _serving_model(tiny_demo / "model")

    # Evaluation (v2m evaluate's served path) and serving (POST /recommend/video).
    evaluated = analyse_served_query(video, model.video_extractor, cuts)["vectors"]
    served = embed_video(
        video, model, QueryOptions(boundaries_s=cuts), Settings(data_dir=tmp_path), Timings()
    )
    np.testing.assert_array_equal(evaluated, served.analysis.segment_vectors)
    # Training: the dataset builder's frames are the pipeline's. Its segments differ only
    # by the cut points' rounding to the millisecond (the API's) and by the last segment,
    # which ends where both streams end, the query's where the picture ends.
    n = len(record.video_frames)
    np.testing.assert_array_equal(record.video_frames, served.analysis.features[:n])
    np.testing.assert_allclose(record.video_segments[:-1], evaluated[:-1], rtol=0, atol=1e-4)

    # The soundtrack: ingestion's frame features and music structure are the training set's.
    track = analyse_track_file(video, model.music_segmenter, model.audio_extractor)
    np.testing.assert_array_equal(record.music_frames, track.features[:n])
    np.testing.assert_allclose(record.boundaries_s[:-1], track.boundaries_s[:-1], atol=1e-6)
