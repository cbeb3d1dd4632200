"""Real recordings for the analysis tests: tracks of the Debian package ``wesnoth-music``
(skipped, with the reason, where the package is not installed)."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import pytest


def wesnoth_music_dir() -> Path | None:
    """The music folder of the installed ``wesnoth-music`` package, if any."""
    for pattern in (
        "/usr/share/games/wesnoth/*/data/core/music",
        "/usr/share/wesnoth/*/data/core/music",
        "/usr/share/games/wesnoth/data/core/music",
        "/usr/share/wesnoth/data/core/music",
    ):
        found = sorted(glob.glob(pattern))
        if found:
            return Path(found[-1])
    return None


# Three complete pieces, chosen short to keep the suite fast.
WESNOTH_TRACKS = ("sad.ogg", "transience.ogg", "main_menu.ogg")


@pytest.fixture(scope="session")
def wesnoth_tracks() -> list[Path]:
    music = wesnoth_music_dir()
    if music is None:
        pytest.skip(
            "real music not installed: Debian package 'wesnoth-music' "
            "(apt-get install wesnoth-music) provides .../data/core/music/*.ogg"
        )
    paths = [music / name for name in WESNOTH_TRACKS]
    missing = [p.name for p in paths if not os.path.isfile(p)]
    if missing:
        pytest.skip(f"wesnoth-music lacks {missing} in {music}")
    return paths
