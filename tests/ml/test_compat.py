"""Each ml.compat patch is still needed (without it, the library fails) and works.

Every case runs in a fresh interpreter (compat_probe.py), because patches and
imports cannot be undone inside this one. When a "needed" test fails, the
library no longer breaks there: delete that patch from ml.compat.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ml import compat

PROBE = Path(__file__).with_name("compat_probe.py")

# patch -> (exercise, what the unpatched library raises)
CASES = {
    "collections_abc": ("import", "MutableSequence"),
    "numpy_aliases": ("dbn", "AttributeError"),
    "pkg_resources": ("import", "pkg_resources"),
    "madmom_dbn_ragged": ("dbn", "inhomogeneous"),
    "scipy_inf": ("import", "cannot import name 'inf'"),
    "scipy_signal_gaussian": ("foote_kernel", "gaussian"),
    "msaf_private_feature_cache": ("msaf_process", "shared feature cache"),
}


def run_probe(skip: str, exercise: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(PROBE), skip, exercise, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done.stdout.strip().splitlines()[0] if done.stdout.strip() else done.stderr


@pytest.fixture(scope="module")
def tiny_song(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # msaf.process wants a dataset-like layout (it writes <root>/estimations/).
    path = tmp_path_factory.mktemp("compat") / "audio" / "tiny.wav"
    path.parent.mkdir()
    sr = 22050
    t = np.arange(12 * sr) / sr
    y = np.where(t < 6, np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 330 * t))
    y = y * (0.5 + 0.5 * (np.mod(t, 0.5) < 0.1))
    sf.write(path, (0.3 * y).astype(np.float32), sr)
    return path


def test_cases_cover_every_patch() -> None:
    assert set(CASES) == set(compat.PATCHES)


@pytest.mark.slow
@pytest.mark.parametrize("patch", compat.PATCHES)
def test_patch_is_needed(patch: str, tiny_song: Path) -> None:
    if patch == "pkg_resources" and importlib.util.find_spec("pkg_resources") is not None:
        pytest.skip("setuptools < 81 provides pkg_resources here; the shim is only used without")
    exercise, failure = CASES[patch]
    result = run_probe(patch, exercise, str(tiny_song))
    assert result.startswith("FAILED"), f"{patch} is no longer needed: {result}"
    assert failure in result


@pytest.mark.slow
@pytest.mark.parametrize("exercise", sorted({e for e, _ in CASES.values()}))
def test_patches_work(exercise: str, tiny_song: Path) -> None:
    assert run_probe("none", exercise, str(tiny_song)) == "OK"


def test_apply_is_idempotent_and_leaves_numpy_bool_alone() -> None:
    compat.apply()
    import madmom.features.downbeats as downbeats
    import msaf

    process, dbn = msaf.process, downbeats._process_dbn
    compat.apply()
    assert compat.applied()
    assert msaf.process is process and downbeats._process_dbn is dbn
    assert np.float is float and np.int is int  # type: ignore[attr-defined]
    assert np.bool is np.bool_  # NumPy 2's own alias, which numba relies on
    assert "pkg_resources" not in sys.modules or importlib.util.find_spec("pkg_resources")
