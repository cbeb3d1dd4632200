"""Make madmom 0.16.1 and msaf 0.1.80 work on Python 3.11, NumPy 2 and SciPy >= 1.13.

Both libraries are unmaintained releases that predate these versions. Rather than
vendoring them, :func:`apply` repairs the few places that break, and nothing else.
Call it before the first ``import madmom`` or ``import msaf``; it is idempotent and
cheap after the first call. The modules of this package that use either library
(``ml.media.beats``, ``ml.media.structure``) call it themselves.

Each patch is listed in :data:`PATCHES`; ``tests/ml/test_compat.py``
shows, in a fresh interpreter, that each one is still needed (the unpatched library
fails) and that it works. When a test reports that a patch is no longer needed,
delete the patch.

The patches:

``collections_abc``
    madmom does ``from collections import MutableSequence`` (removed in Python 3.10):
    the ABC is re-exported from :mod:`collections.abc`.
``numpy_aliases``
    madmom uses ``np.float`` and ``np.int`` (removed in NumPy 1.24). They were
    aliases of the builtins, so the builtins are put back under those names. Only
    these two: ``np.bool`` exists again in NumPy 2 as ``np.bool_`` and must not be
    overwritten (numba would then reject ``dtype=np.bool`` in librosa).
``pkg_resources``
    ``madmom/__init__.py`` reads its own version through ``pkg_resources``, which
    setuptools >= 81 no longer ships. While madmom is imported, and only then, a
    minimal ``pkg_resources`` answering ``get_distribution(name).version`` from
    :mod:`importlib.metadata` is provided if the real one is missing.
``madmom_dbn_ragged``
    ``DBNDownBeatTrackingProcessor.process`` picks the best bar length with
    ``np.argmax(np.asarray(results)[:, 1])`` where each result is a
    ``(path, log_probability)`` tuple: a ragged array, an error since NumPy 1.24.
    Each result is returned as a 2-element object array instead, which stacks into a
    ``(n_hmms, 2)`` object array and unpacks like the tuple.
``scipy_inf``
    msaf's bundled pymf does ``from scipy import inf`` (removed in SciPy 1.12).
``scipy_signal_gaussian``
    msaf's ``foote`` and ``sf`` call ``scipy.signal.gaussian``, moved to
    :func:`scipy.signal.windows.gaussian` (the old name was removed in SciPy 1.13).
``msaf_private_feature_cache``
    ``msaf.process`` on a single file caches its features in one JSON file named by
    ``msaf.config.features_tmp_file`` in the *current directory*, shared by every
    call: two workers segmenting at once read each other's features. Each call now
    gets a file of its own in a fresh temporary directory, removed afterwards. (The
    config value is global, so calls within one process are serialised by a lock;
    separate processes run freely.)
"""

from __future__ import annotations

import collections
import collections.abc
import contextlib
import functools
import importlib.metadata
import os
import sys
import tempfile
import threading
import types
from collections.abc import Iterator
from typing import Any

import numpy as np
import scipy
import scipy.signal
import scipy.signal.windows

__all__ = ["apply", "applied", "PATCHES"]

#: Names of the patches, in the order :func:`apply` applies them.
PATCHES: tuple[str, ...] = (
    "collections_abc",
    "numpy_aliases",
    "pkg_resources",
    "madmom_dbn_ragged",
    "scipy_inf",
    "scipy_signal_gaussian",
    "msaf_private_feature_cache",
)

_lock = threading.Lock()
_applied = False


def applied() -> bool:
    """Whether :func:`apply` has run in this process."""
    return _applied


def apply() -> None:
    """Patch the environment, then import madmom and msaf with the fixes in place.

    Idempotent and thread-safe. Raises :class:`ImportError` if madmom or msaf is not
    installed (see ``scripts/install.sh``).
    """
    global _applied
    with _lock:
        if _applied:
            return
        _patch_collections_abc()
        _patch_numpy_aliases()
        _patch_scipy_inf()
        _patch_scipy_signal_gaussian()
        with _pkg_resources_for_madmom():
            import madmom  # noqa: F401
        _patch_madmom_dbn_ragged()
        import msaf  # noqa: F401

        _patch_msaf_private_feature_cache()
        _applied = True


def _patch_collections_abc() -> None:
    if not hasattr(collections, "MutableSequence"):
        collections.MutableSequence = collections.abc.MutableSequence  # type: ignore[attr-defined]


def _patch_numpy_aliases() -> None:
    # Look in the module dict: getattr would go through NumPy's __getattr__,
    # which raises (and warns) for the expired names.
    for name, builtin in (("float", float), ("int", int)):
        if name not in vars(np):
            setattr(np, name, builtin)


def _patch_scipy_inf() -> None:
    if "inf" not in vars(scipy):
        scipy.inf = np.inf  # type: ignore[attr-defined]


def _patch_scipy_signal_gaussian() -> None:
    if "gaussian" not in vars(scipy.signal):
        scipy.signal.gaussian = scipy.signal.windows.gaussian  # type: ignore[attr-defined]


@contextlib.contextmanager
def _pkg_resources_for_madmom() -> Iterator[None]:
    """Provide a minimal ``pkg_resources`` while madmom imports, if none exists."""
    try:
        import pkg_resources  # noqa: F401
    except ImportError:
        pass
    else:
        yield
        return

    shim = types.ModuleType("pkg_resources")
    shim.__doc__ = "Minimal stand-in used by ml.compat while madmom is imported."

    def get_distribution(name: str) -> types.SimpleNamespace:
        return types.SimpleNamespace(project_name=name, version=importlib.metadata.version(name))

    shim.get_distribution = get_distribution  # type: ignore[attr-defined]
    sys.modules["pkg_resources"] = shim
    try:
        yield
    finally:
        # Other libraries test for pkg_resources; do not leave the stand-in behind.
        if sys.modules.get("pkg_resources") is shim:
            del sys.modules["pkg_resources"]


def _patch_madmom_dbn_ragged() -> None:
    import madmom.features.downbeats as downbeats

    original = downbeats._process_dbn
    if getattr(original, "_v2m_patched", False):
        return

    @functools.wraps(original)
    def process_dbn(process_tuple: tuple[Any, np.ndarray]) -> np.ndarray:
        path, log_probability = original(process_tuple)
        result = np.empty(2, dtype=object)
        result[0], result[1] = path, log_probability
        return result

    process_dbn._v2m_patched = True  # type: ignore[attr-defined]
    downbeats._process_dbn = process_dbn


def _patch_msaf_private_feature_cache() -> None:
    import msaf
    import msaf.run

    original = msaf.run.process
    if getattr(original, "_v2m_patched", False):
        return
    process_lock = threading.Lock()

    @functools.wraps(original)
    def process(*args: Any, **kwargs: Any) -> Any:
        with process_lock, tempfile.TemporaryDirectory(prefix="msaf-features-") as tmp:
            previous = msaf.config.features_tmp_file
            msaf.config.features_tmp_file = os.path.join(tmp, "features.json")
            try:
                return original(*args, **kwargs)
            finally:
                msaf.config.features_tmp_file = previous

    process._v2m_patched = True  # type: ignore[attr-defined]
    msaf.run.process = process
    msaf.process = process
