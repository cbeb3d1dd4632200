"""Fixtures of the command-line tests: a tiny folder of real synthetic music videos."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Nine short synthetic music videos (H.264 + AAC) and one file that is not media."""
    from ml.synth.clip import ClipSpec
    from ml.synth.corpus import generate_corpus

    corpus = tmp_path_factory.mktemp("experiment_corpus")
    generate_corpus(
        corpus,
        n_clips=9,
        seed=21,
        spec=ClipSpec(min_duration_s=8.0, max_duration_s=10.0, width=96, height=54, fps=12.0),
        track_format=None,
    )
    folder = corpus / "videos"
    (folder / "readme.mp4").write_text("not a video\n")
    return folder
