"""Tiny corpora of both worlds, built once per session from installed recordings.

The recordings come from the Debian package ``wesnoth-music`` (which the install
step provides for the test suite) or, without it, from any other installed source
package of :mod:`ml.corpora.sources`; with none installed the tests that need a
corpus are skipped, saying which packages to install.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ml.corpora.build import build_corpus
from ml.corpora.sources import PACKAGES, missing_packages

#: Small enough to build in seconds: 3 excerpts of 20-22 s, up to 2 per recording.
TINY = {"n_clips": 3, "seed": 7, "min_len_s": 20.0, "max_len_s": 22.0, "max_per_recording": 2}


@pytest.fixture(scope="session")
def source_package() -> str:
    missing = set(missing_packages())
    if "wesnoth-music" not in missing:
        return "wesnoth-music"
    installed = [name for name in PACKAGES if name not in missing]
    if not installed:
        pytest.skip(
            "no recorded music installed: install one of the Debian packages "
            f"{', '.join(PACKAGES)} (apt-get install wesnoth-music)"
        )
    return installed[0]


def _build(root: Path, world: str, package: str, **overrides) -> tuple[Path, dict]:
    args = TINY | overrides
    out = root / f"world-{world}"
    truth = build_corpus(
        out, world, args.pop("n_clips"), args.pop("seed"), packages=[package], log=None, **args
    )
    return out, truth


@pytest.fixture(scope="session")
def corpus_b(tmp_path_factory, source_package) -> tuple[Path, dict]:
    return _build(tmp_path_factory.mktemp("corpus"), "b", source_package)


@pytest.fixture(scope="session")
def corpus_c(tmp_path_factory, source_package) -> tuple[Path, dict]:
    return _build(tmp_path_factory.mktemp("corpus"), "c", source_package)


@pytest.fixture(scope="session")
def build_tiny(tmp_path_factory, source_package):
    """Build another tiny corpus: ``build_tiny(world, **overrides) -> (folder, truth)``."""

    def build(world: str, **overrides) -> tuple[Path, dict]:
        return _build(tmp_path_factory.mktemp("corpus"), world, source_package, **overrides)

    return build
